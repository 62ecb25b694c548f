"""sensorlake.infra: the CDKTF app that provisions the AWS landing zone and Unity Catalog.

The synthesized Terraform JSON under ``cdktf.out/`` is the durable artifact: it is what we
review in pull requests, scan with checkov and, since CDKTF is deprecated, what plain
Terraform or OpenTofu can run directly.
"""

__all__: list[str] = []
