"""The discovery document and the exported cluster config.

The discovery document has the shape googleapiclient needs (resources ->
methods with id/path/httpMethod/parameters/request/response, plus schemas)
and the Arvados root fields clients read (contract §2.1): rootUrl,
servicePath, batchPath, uuidPrefix, dockerImageFormats,
defaultCollectionReplication, blobSignatureTtl, maxRequestSize, revision.
Only the methods this simulation implements are described, so a client that
calls anything else fails loudly in googleapiclient instead of getting a
confusing 404. `configs` is present, so the Python SDK fetches
GET /arvados/v1/config at construction as it does against a real cluster.
"""

from .util import CLUSTER_ID, go_duration

REVISION = "20250402"  # the API revision this simulation follows
SCOPE_RW = "https://api.arvados.org/auth/arvados"
SCOPE_RO = "https://api.arvados.org/auth/arvados.readonly"

_T = {"string": "string", "text": "text", "datetime": "datetime", "integer": "integer",
      "boolean": "boolean", "jsonb": "Hash", "array": "Array"}

# (resource, schema name, uuid infix, {attribute: type})
_SCHEMAS = [
    ("collections", "Collection", "4zz18", {
        "etag": "string", "uuid": "string", "owner_uuid": "string", "created_at": "datetime",
        "modified_by_user_uuid": "string", "modified_at": "datetime", "portable_data_hash": "string",
        "replication_desired": "integer", "replication_confirmed_at": "datetime",
        "replication_confirmed": "integer", "manifest_text": "text", "name": "string",
        "description": "string", "properties": "jsonb", "delete_at": "datetime", "trash_at": "datetime",
        "is_trashed": "boolean", "storage_classes_desired": "array", "storage_classes_confirmed": "array",
        "storage_classes_confirmed_at": "datetime", "current_version_uuid": "string", "version": "integer",
        "preserve_version": "boolean", "file_count": "integer", "file_size_total": "integer"}),
    ("links", "Link", "o0j2j", {
        "etag": "string", "uuid": "string", "owner_uuid": "string", "created_at": "datetime",
        "modified_by_user_uuid": "string", "modified_at": "datetime", "tail_uuid": "string",
        "link_class": "string", "name": "string", "head_uuid": "string", "properties": "jsonb"}),
    ("groups", "Group", "j7d0g", {
        "etag": "string", "uuid": "string", "owner_uuid": "string", "created_at": "datetime",
        "modified_by_user_uuid": "string", "modified_at": "datetime", "name": "string",
        "description": "string", "group_class": "string", "trash_at": "datetime", "is_trashed": "boolean",
        "delete_at": "datetime", "properties": "jsonb", "frozen_by_uuid": "string"}),
    ("users", "User", "tpzed", {
        "etag": "string", "uuid": "string", "owner_uuid": "string", "created_at": "datetime",
        "modified_by_user_uuid": "string", "modified_at": "datetime", "email": "string",
        "first_name": "string", "last_name": "string", "identity_url": "string", "is_admin": "boolean",
        "prefs": "jsonb", "is_active": "boolean", "username": "string"}),
    ("keep_services", "KeepService", "bi6l4", {
        "etag": "string", "uuid": "string", "owner_uuid": "string", "created_at": "datetime",
        "modified_by_user_uuid": "string", "modified_at": "datetime", "service_host": "string",
        "service_port": "integer", "service_ssl_flag": "boolean", "service_type": "string",
        "read_only": "boolean"}),
    ("api_client_authorizations", "ApiClientAuthorization", "gj3su", {
        "etag": "string", "uuid": "string", "owner_uuid": "string", "created_at": "datetime",
        "modified_by_user_uuid": "string", "modified_at": "datetime", "api_token": "string",
        "expires_at": "datetime", "scopes": "array"}),
]


def _p(typ, desc, location="query", required=False, default=None):
    d = {"type": typ, "description": desc, "location": location, "required": required}
    if default is not None:
        d["default"] = default
    return d


_UUID = {"uuid": _p("string", "UUID of the object.", location="path", required=True)}
_SELECT = {"select": _p("array", "Attributes to include in the response.")}


def _list_params(extra=None):
    d = {
        "filters": _p("array", "Conditions [attribute, operator, operand], ANDed together."),
        "where": _p("object", "Attribute values to match (older form of filters)."),
        "order": _p("array", "Sort order, as \"attribute asc|desc\" strings."),
        "select": _p("array", "Attributes to include for each item."),
        "distinct": _p("boolean", "Return each distinct set of selected values once.", default="false"),
        "limit": _p("integer", "Maximum number of items to return.", default="100"),
        "offset": _p("integer", "Number of matching items to skip.", default="0"),
        "count": _p("string", "\"exact\" to include items_available, \"none\" to skip counting.",
                    default="exact"),
        "cluster_id": _p("string", "Federated cluster to query."),
        "bypass_federation": _p("boolean", "Query only this cluster.", default="false"),
    }
    d.update(extra or {})
    return d


def _method(resource, name, http, path, params, request_schema=None, response=None, order=None):
    m = {
        "id": "arvados.%s.%s" % (resource, name),
        "path": path,
        "httpMethod": http,
        "description": "%s %s." % (name.capitalize(), resource.replace("_", " ")),
        "parameters": params,
        "parameterOrder": order if order is not None else [k for k, v in params.items() if v.get("required")],
        "response": {"$ref": response} if response else {},
        "scopes": [SCOPE_RW] if http != "GET" else [SCOPE_RW, SCOPE_RO],
    }
    if request_schema:
        m["request"] = {"required": True, "properties": {request_schema[0]: {"$ref": request_schema[1]}}}
    return m


def _crud(resource, schema, singular, methods, extra_list=None, extra_get=None, extra_write=None):
    out = {}
    if "get" in methods:
        out["get"] = _method(resource, "get", "GET", resource + "/{uuid}",
                             dict(_UUID, **dict(_SELECT, **(extra_get or {}))), response=schema)
    if "list" in methods:
        out["list"] = _method(resource, "list", "GET", resource, _list_params(extra_list),
                              response=schema + "List")
    if "create" in methods:
        params = dict(_SELECT)
        params["ensure_unique_name"] = _p("boolean", "Rename on a name collision instead of failing.",
                                          default="false")
        params["cluster_id"] = _p("string", "Federated cluster to create the object in.")
        params.update(extra_write or {})
        out["create"] = _method(resource, "create", "POST", resource, params,
                                request_schema=(singular, schema), response=schema)
    if "update" in methods:
        params = dict(_UUID, **_SELECT)
        params.update(extra_write or {})
        out["update"] = _method(resource, "update", "PUT", resource + "/{uuid}", params,
                                request_schema=(singular, schema), response=schema)
    if "delete" in methods:
        out["delete"] = _method(resource, "delete", "DELETE", resource + "/{uuid}", dict(_UUID),
                                response=schema)
    return out


def _resources():
    trash = {"include_trash": _p("boolean", "Include trashed objects.", default="false")}
    replace = {"replace_files": dict(_p("object", "Files to add, replace or remove."),
                                     properties={}, additionalProperties={"type": "string"}),
               "replace_segments": dict(_p("object", "Block segments to replace."),
                                        properties={}, additionalProperties={"type": "string"})}
    coll = _crud("collections", "Collection", "collection", ("get", "list", "create", "update", "delete"),
                 extra_list=dict(trash, include_old_versions=_p("boolean", "Include past versions.",
                                                                default="false")),
                 extra_get=trash, extra_write=replace)
    coll["trash"] = _method("collections", "trash", "POST", "collections/{uuid}/trash", dict(_UUID),
                            response="Collection")
    coll["untrash"] = _method("collections", "untrash", "POST", "collections/{uuid}/untrash",
                              dict(_UUID, ensure_unique_name=_p("boolean", "Rename on a name collision.",
                                                                default="false")),
                              response="Collection")
    links = _crud("links", "Link", "link", ("get", "list", "create", "update", "delete"))
    groups = _crud("groups", "Group", "group", ("get", "list", "create", "delete"),
                   extra_list=dict(trash, include=_p("array", "Related objects to include.")),
                   extra_get=trash)
    groups["trash"] = _method("groups", "trash", "POST", "groups/{uuid}/trash", dict(_UUID), response="Group")
    users = _crud("users", "User", "user", ("get", "list"))
    users["current"] = _method("users", "current", "GET", "users/current", dict(_SELECT), response="User")
    keep = _crud("keep_services", "KeepService", "keep_service", ("get", "list"))
    keep["accessible"] = _method("keep_services", "accessible", "GET", "keep_services/accessible", {},
                                 response="KeepServiceList")
    acas = {"current": _method("api_client_authorizations", "current", "GET",
                               "api_client_authorizations/current", {}, response="ApiClientAuthorization")}
    return {
        "collections": {"methods": coll},
        "links": {"methods": links},
        "groups": {"methods": groups},
        "users": {"methods": users},
        "keep_services": {"methods": keep},
        "api_client_authorizations": {"methods": acas},
        "configs": {"methods": {"get": _method("configs", "get", "GET", "config", {}, order=[])}},
        "vocabularies": {"methods": {"get": _method("vocabularies", "get", "GET", "vocabulary", {}, order=[])}},
    }


def _schemas():
    out = {}
    for resource, name, infix, attrs in _SCHEMAS:
        out[name] = {
            "id": name, "type": "object", "uuidPrefix": infix,
            "description": "A %s record." % name,
            "properties": {k: {"type": _T[t], "description": k.replace("_", " ") + "."}
                           for k, t in attrs.items()},
        }
        kind = "arvados#" + name[0].lower() + name[1:] + "List"
        out[name + "List"] = {
            "id": name + "List", "type": "object", "description": "A list of %s records." % name,
            "properties": {
                "kind": {"type": "string", "description": "Always %s." % kind, "default": kind},
                "etag": {"type": "string", "description": "List version."},
                "items": {"type": "array", "description": "The matching records.", "items": {"$ref": name}},
                "items_available": {"type": "integer", "description": "Total number of matches."},
                "offset": {"type": "integer", "description": "Items skipped."},
                "limit": {"type": "integer", "description": "Page size used."},
            },
        }
    return out


def discovery_document(api_root, config):
    """The document served at /discovery/v1/apis/arvados/v1/rest.

    `api_root` is "https://host:port/"; `config` is the simulation config."""
    doc = {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": "arvados:v1",
        "name": "arvados",
        "version": "v1",
        "revision": REVISION,
        "source_version": "simarv",
        "sourceVersion": "simarv",
        "packageVersion": "simarv",
        "title": "Arvados API (simulated)",
        "description": "A simulated Arvados API server for compatibility tests.",
        "documentationLink": "http://doc.arvados.org/api/index.html",
        "defaultCollectionReplication": config["default_replication"],
        "protocol": "rest",
        "baseUrl": api_root + "arvados/v1/",
        "basePath": "/arvados/v1/",
        "rootUrl": api_root,
        "servicePath": "arvados/v1/",
        "batchPath": "batch",
        "uuidPrefix": CLUSTER_ID,
        "defaultTrashLifetime": config["trash_lifetime"],
        "blobSignatureTtl": config["blob_signing_ttl"],
        "maxRequestSize": config["max_request_size"],
        "maxItemsPerResponse": 1000,
        "remoteHosts": {},
        "remoteHostsViaDNS": False,
        "websocketUrl": "",
        "workbenchUrl": "",
        "workbench2Url": "",
        "keepWebServiceUrl": "",
        "parameters": {
            "alt": {"type": "string", "description": "Response format.", "default": "json",
                    "enum": ["json"], "enumDescriptions": ["JSON responses"], "location": "query"},
            "fields": {"type": "string", "description": "Fields to include in a partial response.",
                       "location": "query"},
            "key": {"type": "string", "description": "API key (unused).", "location": "query"},
            "oauth_token": {"type": "string", "description": "OAuth 2.0 token.", "location": "query"},
        },
        "auth": {"oauth2": {"scopes": {SCOPE_RW: {"description": "View and manage objects"},
                                       SCOPE_RO: {"description": "View objects"}}}},
        "schemas": _schemas(),
        "resources": _resources(),
    }
    formats = config["docker_image_formats"]
    if formats is not None:
        doc["dockerImageFormats"] = list(formats)
    return doc


def exported_config(api_root, config, keep_services):
    """A subset of GET /arvados/v1/config in the controller's shape (durations
    as Go strings)."""
    classes = {name: {"Default": True, "Priority": 0} for name in config["storage_classes"]}
    keepstore_urls = {ks["url"]: {} for ks in keep_services if ks["type"] == "disk"}
    proxy = [ks["url"] for ks in keep_services if ks["type"] == "proxy"]
    return {
        "ClusterID": CLUSTER_ID,
        "API": {"MaxItemsPerResponse": 1000, "MaxRequestSize": config["max_request_size"]},
        "Collections": {
            "BlobSigning": True,
            "BlobSigningTTL": go_duration(config["blob_signing_ttl"]),
            "CollectionVersioning": True,
            "DefaultReplication": config["default_replication"],
            "DefaultTrashLifetime": go_duration(config["trash_lifetime"]),
            "ForwardSlashNameSubstitution": "",
            "ManagedProperties": {},
            "PreserveVersionIfIdle": "10s",
            "TrustAllContent": False,
        },
        "Containers": {"SupportedDockerImageFormats": {f: {} for f in (config["docker_image_formats"] or [])}},
        "Services": {
            "Controller": {"ExternalURL": api_root},
            "Keepproxy": {"ExternalURL": proxy[0] if proxy else ""},
            "Keepstore": {"InternalURLs": keepstore_urls},
        },
        "StorageClasses": classes,
        "Volumes": {},
    }
