"""Constructs that make up the stacks: storage (KMS, buckets), access (IAM), catalog (UC)."""

__all__: list[str] = []
