"""Unity Catalog: storage credential, external locations, catalog, schema, volumes, grants.

Creation order avoids the classic cycle: the credential is created first with the role ARN as
a plain string; its external ID feeds the role's trust policy (stacks/access.py); a
``time_sleep`` waits for IAM to propagate before the external locations validate the role.

The credential, the external locations and the catalog are isolated (each in its resource
type's spelling) and bound to the configured workspaces only; every UC object is owned by the configured admin group (not by
whoever ran the deploy). The catalog's managed storage is a folder of the checkpoints bucket
next to the volumes, and it waits for the external location that covers it.

Grants are authoritative per securable (``databricks_grants``) and least privilege:
the pipeline's service principal reads landing files, uses the schema, writes its tables and
its checkpoint/schema volumes; the data team reads tables; the dashboards' identity, when
configured, reads the tables and the checkpoints volume. Landing locations are read-only
in UC, so nothing in Databricks can overwrite or delete landed files.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import Fn, ITerraformDependable, Op, Precondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_databricks.catalog import Catalog
from cdktf_cdktf_provider_databricks.data_databricks_current_metastore import (
    DataDatabricksCurrentMetastore,
)
from cdktf_cdktf_provider_databricks.data_databricks_current_user import (
    DataDatabricksCurrentUser,
)
from cdktf_cdktf_provider_databricks.data_databricks_group import DataDatabricksGroup
from cdktf_cdktf_provider_databricks.entity_tag_assignment import EntityTagAssignment
from cdktf_cdktf_provider_databricks.external_location import (
    ExternalLocation,
    ExternalLocationEncryptionDetails,
    ExternalLocationEncryptionDetailsSseEncryptionDetails,
    ExternalLocationFileEventQueue,
    ExternalLocationFileEventQueueManagedSqs,
)
from cdktf_cdktf_provider_databricks.grants import Grants, GrantsGrant
from cdktf_cdktf_provider_databricks.schema import Schema
from cdktf_cdktf_provider_databricks.storage_credential import (
    StorageCredential,
    StorageCredentialAwsIamRole,
)
from cdktf_cdktf_provider_databricks.volume import Volume
from cdktf_cdktf_provider_databricks.workspace_binding import WorkspaceBinding
from constructs import Construct

from sensorlake.infra import naming
from sensorlake.infra.config import Settings
from sensorlake.infra.stacks.storage import KEEP

__all__ = [
    "CATALOG_PRIVILEGES",
    "DASHBOARD_PRIVILEGES",
    "ISOLATED_CATALOG",
    "ISOLATED_CREDENTIAL",
    "ISOLATED_LOCATION",
    "LOCATION_PRIVILEGES",
    "SCHEMA_PRIVILEGES",
    "VOLUME_PRIVILEGES",
    "UnityCatalog",
    "storage_credential",
]

# Least-privilege grants, per securable kind: principal role -> privileges.
CATALOG_PRIVILEGES = {"data_team": ("USE_CATALOG",), "pipeline": ("USE_CATALOG",)}
SCHEMA_PRIVILEGES = {
    "data_team": ("SELECT", "USE_SCHEMA"),
    "pipeline": ("CREATE_TABLE", "MODIFY", "SELECT", "USE_SCHEMA"),
}
LOCATION_PRIVILEGES = {"pipeline": ("READ_FILES",)}
VOLUME_PRIVILEGES = {"pipeline": ("READ_VOLUME", "WRITE_VOLUME")}
# The dashboards' identity (unity_catalog.dashboard_principal, optional): it reads the tables
# and calls cloud_files_state on the checkpoints, which needs READ VOLUME on the volume that
# holds them (docs.databricks.com/en/sql/language-manual/functions/cloud_files_state.html,
# Permissions).
DASHBOARD_PRIVILEGES = {
    "catalog": ("USE_CATALOG",),
    "schema": ("SELECT", "USE_SCHEMA"),
    "checkpoints_volume": ("READ_VOLUME",),
}


# Isolation is spelled per resource type, and the provider passes it through unchecked: a
# wrong value leaves the object ISOLATION_MODE_OPEN with a diff on every plan (provider issues
# #3728, #3886; docs/resources/storage_credential.md and external_location.md: "Can be
# `ISOLATION_MODE_ISOLATED` or `ISOLATION_MODE_OPEN`"; docs/resources/catalog.md: "Can be
# `ISOLATED` or `OPEN`").
ISOLATED_CREDENTIAL = "ISOLATION_MODE_ISOLATED"
ISOLATED_LOCATION = "ISOLATION_MODE_ISOLATED"
ISOLATED_CATALOG = "ISOLATED"


def storage_credential(scope: Construct, settings: Settings, role_arn: str) -> StorageCredential:
    """The credential, created before the role exists (role ARN as a plain string).

    Its preconditions refuse, at plan time and before any UC object exists:

    - a workspace whose metastore is in another region than the buckets (cross-region
      reads cost egress and Databricks rejects some of them);
    - a deployer who is not in ``admin_group``. Every UC object is created with
      ``owner = admin_group``, and the provider hands ownership over right after creating
      each one; the steps after that (the catalog's storage root needs CREATE MANAGED
      STORAGE on the location, the schema, volumes, grants, bindings and tags need
      privileges on objects the deployer no longer owns) work only through that group. The
      provider has no resource that sets an owner later, so the membership is checked
      instead. ``data.databricks_group`` collects nested members (``recursive`` defaults to
      true) and lists users and service principals by SCIM id, the id
      ``data.databricks_current_user`` gives the caller (provider scim/data_group.go,
      docs/data-sources/group.md, docs/data-sources/current_user.md).
    """
    metastore = DataDatabricksCurrentMetastore(scope, "metastore")
    region = settings.aws.region
    admins = settings.unity_catalog.admin_group
    me = DataDatabricksCurrentUser(scope, "deployer")
    group = DataDatabricksGroup(scope, "admin_group", display_name=admins)
    return StorageCredential(
        scope,
        "storage_credential",
        name=settings.unity_catalog.storage_credential,
        comment="sensorlake: S3 access for the landing and checkpoint buckets",
        aws_iam_role=StorageCredentialAwsIamRole(role_arn=role_arn),
        owner=settings.unity_catalog.admin_group,
        isolation_mode=ISOLATED_CREDENTIAL,
        lifecycle=TerraformResourceLifecycle(
            precondition=[
                Precondition(
                    condition=Op.eq(metastore.metastore_info.region, region),
                    error_message=(
                        f"the workspace's metastore is not in {region} (aws.region): deploy to "
                        "a workspace in the buckets' region, or change aws.region"
                    ),
                ),
                Precondition(
                    condition=Fn.contains(
                        Fn.setunion(group.users, [group.service_principals]), me.id
                    ),
                    error_message=(
                        f"the deployer is not a member of unity_catalog.admin_group {admins!r}, "
                        "which will own every Unity Catalog object: add the deploying user or "
                        "service principal to that group (or set UC_ADMIN_GROUP to a group it "
                        "is in), then deploy again"
                    ),
                ),
            ]
        ),
    )


class UnityCatalog(Construct):
    """External locations over the five buckets, the catalog/schema, volumes and grants."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: Settings,
        credential: StorageCredential,
        key_arn: str,
        wait: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        uc = settings.unity_catalog
        principals = {"data_team": uc.data_team_group, "pipeline": uc.service_principal}
        if uc.dashboard_principal:
            principals["dashboard"] = uc.dashboard_principal

        def with_dashboard(
            privileges: dict[str, tuple[str, ...]], securable: str
        ) -> dict[str, tuple[str, ...]]:
            if not uc.dashboard_principal:
                return privileges
            return {**privileges, "dashboard": DASHBOARD_PRIVILEGES[securable]}

        def bind(id_: str, securable_type: str, securable_name: str) -> None:
            for ws in uc.workspace_ids:
                WorkspaceBinding(
                    self,
                    f"{id_}_binding_{ws}",
                    securable_type=securable_type,
                    securable_name=securable_name,
                    workspace_id=ws,
                    binding_type="BINDING_TYPE_READ_WRITE",
                )

        def tag(id_: str, entity_type: str, entity_name: str) -> None:
            for key, value in sorted(settings.tags.items()):
                EntityTagAssignment(
                    self,
                    f"{id_}_tag_{key}",
                    entity_type=entity_type,
                    entity_name=entity_name,
                    tag_key=key,
                    tag_value=value,
                )

        bind("storage_credential", "storage_credential", credential.name)

        def grants(id_: str, privileges: dict[str, tuple[str, ...]], **securable: str) -> None:
            Grants(
                self,
                id_,
                grant=[
                    GrantsGrant(principal=principals[who], privileges=list(privs))
                    for who, privs in privileges.items()
                ],
                **securable,
            )

        self.locations: dict[str, ExternalLocation] = {}
        for role, name in settings.location_names.items():
            landing = role != "checkpoints"
            loc = ExternalLocation(
                self,
                f"{role}_location",
                name=name,
                url=naming.location_url(settings.bucket(role)),
                credential_name=credential.name,
                comment=f"sensorlake {role} bucket",
                read_only=landing,
                owner=uc.admin_group,
                isolation_mode=ISOLATED_LOCATION,
                encryption_details=ExternalLocationEncryptionDetails(
                    sse_encryption_details=ExternalLocationEncryptionDetailsSseEncryptionDetails(
                        algorithm="AWS_SSE_KMS", aws_kms_key_arn=key_arn
                    )
                ),
                enable_file_events=uc.file_events if landing else False,
                file_event_queue=(
                    ExternalLocationFileEventQueue(
                        managed_sqs=ExternalLocationFileEventQueueManagedSqs()
                    )
                    if uc.file_events and landing
                    else None
                ),
                depends_on=list(wait),
            )
            self.locations[role] = loc
            bind(f"{role}_location", "external_location", loc.name)
            if landing:
                grants(f"{role}_location_grants", LOCATION_PRIVILEGES, external_location=loc.name)

        self.catalog = Catalog(
            self,
            "catalog",
            name=uc.catalog,
            comment="sensorlake: sensor readings landed by gateways, ingested by Auto Loader",
            storage_root=settings.catalog_storage_root,
            owner=uc.admin_group,
            isolation_mode=ISOLATED_CATALOG,
            lifecycle=KEEP,
            depends_on=[self.locations[settings.catalog_storage_role]],
        )
        bind("catalog", "catalog", self.catalog.name)
        tag("catalog", "catalogs", self.catalog.name)
        grants(
            "catalog_grants",
            with_dashboard(CATALOG_PRIVILEGES, "catalog"),
            catalog=self.catalog.name,
        )
        self.schema = Schema(
            self,
            "schema",
            catalog_name=self.catalog.name,
            name=uc.schema_name,
            comment="sensorlake pipeline tables (raw, schematized, filtered, emergency)",
            owner=uc.admin_group,
        )
        tag("schema", "schemas", self.schema.id)
        grants("schema_grants", with_dashboard(SCHEMA_PRIVILEGES, "schema"), schema=self.schema.id)

        self.volumes: dict[str, Volume] = {}
        for vol in settings.uc_volumes:
            volume = Volume(
                self,
                f"volume_{vol.name}",
                catalog_name=self.catalog.name,
                schema_name=self.schema.name,
                name=vol.name,
                volume_type="EXTERNAL",
                storage_location=settings.volume_url(vol),
                comment="sensorlake Auto Loader state",
                owner=uc.admin_group,
                depends_on=list(self.locations.values()),
            )
            tag(f"volume_{vol.name}", "volumes", volume.id)
            self.volumes[vol.name] = volume
            privileges = (
                with_dashboard(VOLUME_PRIVILEGES, "checkpoints_volume")
                if vol.name == settings.jobs.checkpoints_volume
                else VOLUME_PRIVILEGES
            )
            grants(f"volume_{vol.name}_grants", privileges, volume=volume.id)
