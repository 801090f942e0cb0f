"""The object database of the simulated cluster, with the rules the real
server applies: the permission model, the Rails model validations and
callbacks for collections, links and groups, and the controller's record
shapes.

Records are plain dicts keyed by column name (timestamps as integer
microseconds). Everything runs under one lock: the data set is small and the
API server is threaded.

Permission model (after ArvadosModel.readable_by):
  * a user has can_manage on itself, on everything it owns and, transitively,
    on everything owned by projects it owns;
  * a `permission` link (tail = user, head = object or project, name =
    can_read/can_write/can_manage) grants that level on the head and, for a
    project, on everything below it; can_manage on another user also reaches
    that user's objects;
  * links are also visible when they are permission links on or to the user,
    or on an object the user can manage;
  * every user can read every user record — on a real cluster all active
    users share the "All users" group, which has the same effect;
  * trashed collections and projects (trash_at in the past), and anything
    inside a trashed project, are invisible unless include_trash is asked.
"""

import json
import threading
import time

from . import filters as F
from . import manifest as M
from .util import (CLUSTER_ID, SYSTEM_USER_UUID, fmt_ts, new_uuid, now_us, parse_ts,
                   etag_for, ruby_inspect)

LEVELS = {"can_read": 1, "can_write": 2, "can_manage": 3}
PERMISSION_DENIED = "#<ArvadosModel::PermissionDeniedError: ArvadosModel::PermissionDeniedError>"
TRASH_LIFETIME_S = 1209600       # Collections.DefaultTrashLifetime (336h)
PRESERVE_VERSION_IF_IDLE_S = 10  # Collections.PreserveVersionIfIdle


class ApiError(Exception):
    """An API failure. `source` says who produced it on a real cluster:
    "rails" (the API server, whose errors the controller wraps) or
    "controller" (the Go controller itself)."""

    def __init__(self, status, messages, source="rails"):
        Exception.__init__(self, "; ".join(messages))
        self.status = status
        self.messages = list(messages)
        self.source = source


_COMMON = {"uuid": "string", "owner_uuid": "string", "created_at": "datetime",
           "modified_by_client_uuid": "string", "modified_by_user_uuid": "string",
           "modified_at": "datetime", "updated_at": "datetime"}
_COMMON_API = ["kind", "etag", "uuid", "owner_uuid", "created_at", "modified_by_user_uuid", "modified_at"]


def _cols(**extra):
    d = dict(_COMMON)
    d.update(extra)
    return d


SCHEMAS = {
    "collections": F.Schema("collections", "Collection", "4zz18", _cols(
        portable_data_hash="string", replication_desired="integer", replication_confirmed_at="datetime",
        replication_confirmed="integer", manifest_text="text", name="string", description="string",
        properties="jsonb", delete_at="datetime", file_names="text", trash_at="datetime",
        is_trashed="boolean", storage_classes_desired="jsonb", storage_classes_confirmed="jsonb",
        storage_classes_confirmed_at="datetime", current_version_uuid="string", version="integer",
        preserve_version="boolean", file_count="integer", file_size_total="integer"),
        _COMMON_API + ["name", "description", "properties", "portable_data_hash", "unsigned_manifest_text",
                       "manifest_text", "replication_desired", "replication_confirmed",
                       "replication_confirmed_at", "storage_classes_desired", "storage_classes_confirmed",
                       "storage_classes_confirmed_at", "delete_at", "trash_at", "is_trashed", "version",
                       "current_version_uuid", "preserve_version", "file_count", "file_size_total"]),
    "links": F.Schema("links", "Link", "o0j2j", _cols(
        tail_uuid="string", link_class="string", name="string", head_uuid="string", properties="jsonb"),
        _COMMON_API + ["tail_uuid", "link_class", "name", "head_uuid", "head_kind", "tail_kind", "properties"]),
    "groups": F.Schema("groups", "Group", "j7d0g", _cols(
        name="string", description="string", group_class="string", trash_at="datetime",
        is_trashed="boolean", delete_at="datetime", properties="jsonb", frozen_by_uuid="string"),
        _COMMON_API + ["name", "group_class", "description", "writable_by", "delete_at", "trash_at",
                       "is_trashed", "properties", "frozen_by_uuid", "can_write", "can_manage"]),
    "users": F.Schema("users", "User", "tpzed", _cols(
        email="string", first_name="string", last_name="string", identity_url="string",
        is_admin="boolean", prefs="text", default_owner_uuid="string", is_active="boolean",
        username="string", redirect_to_user_uuid="string"),
        _COMMON_API + ["email", "username", "full_name", "first_name", "last_name", "identity_url",
                       "is_active", "is_admin", "is_invited", "prefs", "writable_by", "can_write",
                       "can_manage"]),
}

INFIX_TABLE = {"4zz18": "collections", "o0j2j": "links", "j7d0g": "groups", "tpzed": "users"}
TABLE_KIND = {"collections": "arvados#collection", "links": "arvados#link",
              "groups": "arvados#group", "users": "arvados#user"}
INFIX_KIND = {"4zz18": "arvados#collection", "o0j2j": "arvados#link", "j7d0g": "arvados#group",
              "tpzed": "arvados#user", "bi6l4": "arvados#keepService",
              "gj3su": "arvados#apiClientAuthorization", "xvhdp": "arvados#containerRequest",
              "dz642": "arvados#container", "7fd4e": "arvados#workflow"}

# Attributes a client may not set directly; Rails ignores or overwrites them.
_READ_ONLY = {"kind", "etag", "href", "created_at", "modified_at", "modified_by_user_uuid",
              "modified_by_client_uuid", "updated_at", "file_count", "file_size_total",
              "unsigned_manifest_text", "current_version_uuid", "version", "file_names",
              "writable_by", "can_write", "can_manage", "head_kind", "tail_kind",
              "replication_confirmed", "replication_confirmed_at", "storage_classes_confirmed",
              "storage_classes_confirmed_at"}

# Fixed users and tokens. Secrets are fixed so that test environments are stable.
USERS = [
    {"name": "alice", "uuid": CLUSTER_ID + "-tpzed-000000000000001",
     "token_uuid": CLUSTER_ID + "-gj3su-000000000000001",
     "secret": "4l1c3s3cr3t0k3n00000000000000000000000000000000001",
     "first_name": "Alice", "last_name": "Example"},
    {"name": "bob", "uuid": CLUSTER_ID + "-tpzed-000000000000002",
     "token_uuid": CLUSTER_ID + "-gj3su-000000000000002",
     "secret": "b0bs3cr3t0k3n0000000000000000000000000000000000002",
     "first_name": "Bob", "last_name": "Example"},
]
for _u in USERS:
    _u["token"] = "v2/%s/%s" % (_u["token_uuid"], _u["secret"])


def table_for_uuid(uuid):
    """Which table a UUID belongs to (ArvadosModel.resource_class_for_uuid)."""
    if isinstance(uuid, str) and len(uuid) == 27 and uuid[5] == "-" and uuid[11] == "-":
        return INFIX_TABLE.get(uuid[6:11])
    return None


def kind_for_uuid(uuid):
    if isinstance(uuid, str) and len(uuid) == 27 and uuid[5] == "-" and uuid[11] == "-":
        return INFIX_KIND.get(uuid[6:11])
    if isinstance(uuid, str) and M.LOCATOR_RE.match(uuid or ""):
        return "arvados#collection"
    return None


class Ctx(object):
    """Who is calling: user uuid (None if anonymous), the token string exactly
    as presented (it is what blob signatures are computed with), request id."""

    def __init__(self, user_uuid, token, request_id):
        self.user = user_uuid
        self.token = token
        self.request_id = request_id


class Perms(object):
    """Permission levels of one user, computed once per request."""

    def __init__(self, db, user_uuid):
        self.db = db
        self.user = user_uuid
        self.granted = {}
        if user_uuid:
            for link in db.tables["links"].values():
                if link.get("link_class") == "permission" and link.get("tail_uuid") == user_uuid:
                    lvl = LEVELS.get(link.get("name"), 0)
                    head = link.get("head_uuid")
                    if lvl > self.granted.get(head, 0):
                        self.granted[head] = lvl
        self._owner_cache = {}
        self._trash_cache = {}
        self.now = now_us()

    def owner_level(self, owner):
        """Level on objects owned by `owner` (a user or a group uuid)."""
        if owner in self._owner_cache:
            return self._owner_cache[owner]
        lvl = 0
        o = owner
        seen = set()
        while o and o not in seen and self.user:
            seen.add(o)
            if o == self.user:
                lvl = 3
                break
            g = self.granted.get(o, 0)
            if table_for_uuid(o) == "users":
                if g >= 3:  # can_manage on a user reaches that user's objects
                    lvl = max(lvl, 3)
                break
            lvl = max(lvl, g)
            grp = self.db.tables["groups"].get(o)
            if grp is None:
                break
            o = grp.get("owner_uuid")
        self._owner_cache[owner] = lvl
        return lvl

    def level(self, table, rec):
        if rec is None or not self.user:
            return 0
        if table == "users":
            return 3 if rec["uuid"] == self.user else max(1, self.granted.get(rec["uuid"], 0))
        if table == "groups":
            return self.owner_level(rec["uuid"])
        return max(self.granted.get(rec["uuid"], 0), self.owner_level(rec.get("owner_uuid")))

    def level_of_uuid(self, uuid):
        t = table_for_uuid(uuid)
        if t is None:
            return 0
        return self.level(t, self.db.tables[t].get(uuid))

    def owner_trashed(self, owner):
        """True if `owner` is, or is inside, a trashed project."""
        if owner in self._trash_cache:
            return self._trash_cache[owner]
        out = False
        o = owner
        seen = set()
        while o and o not in seen:
            seen.add(o)
            grp = self.db.tables["groups"].get(o)
            if grp is None:
                break
            if grp.get("trash_at") is not None and grp["trash_at"] <= self.now:
                out = True
                break
            o = grp.get("owner_uuid")
        self._trash_cache[owner] = out
        return out

    def readable(self, table, rec, include_trash=False, include_old_versions=False):
        if rec is None or not self.user:
            return False
        if table == "users":
            return True
        if not include_trash:
            if self.owner_trashed(rec.get("owner_uuid")):
                return False
            if table in ("collections", "groups") and rec.get("trash_at") is not None \
                    and rec["trash_at"] <= self.now:
                return False
        if table == "collections" and not include_old_versions \
                and rec.get("current_version_uuid") not in (None, rec["uuid"]):
            return False
        if self.level(table, rec) >= 1:
            return True
        if table == "links" and rec.get("link_class") == "permission":
            head, tail = rec.get("head_uuid"), rec.get("tail_uuid")
            if head == self.user or tail == self.user or self.level_of_uuid(head) >= 3:
                return True
        return False

    def can_write(self, uuid):
        if uuid == self.user:
            return True
        return self.level_of_uuid(uuid) >= 2


def _cast(typ, v):
    """ActiveRecord attribute type casting (enough of it)."""
    if v is None:
        return None
    if typ in ("string", "text"):
        if isinstance(v, bool):
            return "t" if v else "f"
        if isinstance(v, (dict, list)):
            return ruby_inspect(v)
        return v if isinstance(v, str) else str(v)
    if typ == "integer":
        if isinstance(v, bool):
            return 1 if v else 0
        if isinstance(v, (int, float)):
            return int(v)
        try:
            return int(str(v).strip())
        except ValueError:
            return None
    if typ == "boolean":
        if v in (False, 0, "0", "f", "F", "false", "FALSE", "off", "OFF"):
            return False
        if v == "":
            return None
        return True
    if typ == "datetime":
        if isinstance(v, str):
            try:
                return parse_ts(v)
            except ValueError:
                return None
        return None
    return v


def _humanize(attr):
    return attr.replace("_", " ").capitalize()


class DB(object):
    """All objects of the cluster. `settings` supplies the live config dict
    (`settings.config`) and the blob signing key (`settings.blob_signing_key`)."""

    def __init__(self, settings):
        self.settings = settings
        self.lock = threading.RLock()
        self.tables = {"collections": {}, "links": {}, "groups": {}, "users": {}}
        self.tokens = {}
        self.started_us = now_us()
        for u in USERS:
            self.tables["users"][u["uuid"]] = {
                "uuid": u["uuid"], "owner_uuid": SYSTEM_USER_UUID, "created_at": self.started_us,
                "modified_at": self.started_us, "modified_by_user_uuid": SYSTEM_USER_UUID,
                "modified_by_client_uuid": None, "updated_at": self.started_us,
                "email": "%s@example.com" % u["name"], "first_name": u["first_name"],
                "last_name": u["last_name"], "identity_url": "", "is_admin": False,
                "prefs": {}, "default_owner_uuid": None, "is_active": True, "username": u["name"],
                "redirect_to_user_uuid": None}
            self.tokens[u["token_uuid"]] = (u["secret"], u["uuid"])

    # --- settings -------------------------------------------------------------

    @property
    def cfg(self):
        return self.settings.config

    def default_storage_classes(self):
        return list(self.cfg["storage_classes"])

    def reset(self):
        with self.lock:
            for t in ("collections", "links", "groups"):
                self.tables[t].clear()

    # --- authentication ---------------------------------------------------------

    def authenticate(self, token):
        """User uuid for a presented token, or None. Accepts the v2 form
        `v2/<token uuid>/<secret>[/...]` and the bare secret."""
        if not token:
            return None
        if token.startswith("v2/"):
            parts = token.split("/")
            if len(parts) < 3:
                return None
            entry = self.tokens.get(parts[1])
            if entry and entry[0] == parts[2]:
                return entry[1]
            return None
        for secret, user in self.tokens.values():
            if secret == token:
                return user
        return None

    def user_by_name_or_uuid(self, who):
        for u in USERS:
            if who in (u["name"], u["uuid"], u["token"], u["secret"]):
                return u
        return None

    # --- lookup -------------------------------------------------------------------

    def find_readable(self, table, uuid, ctx, include_trash=False, perms=None):
        perms = perms or Perms(self, ctx.user)
        rec = self.tables[table].get(uuid)
        if rec is None or not perms.readable(table, rec, include_trash=include_trash,
                                             include_old_versions=True):
            raise ApiError(404, ["Path not found"])
        return rec

    def find_collection_by_pdh(self, pdh, ctx, include_trash=False):
        """collections/<pdh>: the readable collection with the longest
        remaining lifetime ("trash_at desc", NULL first)."""
        perms = Perms(self, ctx.user)
        best = None
        for rec in self.tables["collections"].values():
            if rec.get("portable_data_hash") != pdh:
                continue
            if not perms.readable("collections", rec, include_trash=include_trash, include_old_versions=True):
                continue
            if best is None or (best.get("trash_at") is not None and
                                (rec.get("trash_at") is None or rec["trash_at"] > best["trash_at"])):
                best = rec
        if best is None:
            raise ApiError(404, ["Path not found"])
        return best

    # --- listing ---------------------------------------------------------------------

    def list(self, table, ctx, params):
        """Rails index: returns (records, items_available, limit, offset, select)."""
        schema = SCHEMAS[table]
        preds = F.compile_filters(params.get("filters"), schema)
        preds += self._where_preds(params.get("where"), schema)
        limit, offset = F.parse_limit_offset(params)
        select = F.parse_select(params.get("select"), schema)
        orders = F.parse_order(params.get("order"), schema)
        if select:
            # Rails drops ordering columns that are not selected.
            orders = [o for o in orders if o[0] in select]
        count = params.get("count")
        if count not in (None, "", "exact", "none"):
            raise F.FilterError("count parameter must be 'exact' or 'none'")
        include_trash = bool(params.get("include_trash"))
        include_old = bool(params.get("include_old_versions"))
        with self.lock:
            perms = Perms(self, ctx.user)
            # The filters first: they are cheaper than the permission check
            # and usually leave fewer rows (the result is the same).
            rows = [r for r in self.tables[table].values()
                    if all(p(r) for p in preds)
                    and perms.readable(table, r, include_trash=include_trash, include_old_versions=include_old)]
        rows = F.sort_records(rows, orders, schema)
        page = rows[offset:offset + limit]
        available = None if count == "none" else len(rows)
        return page, available, limit, offset, select, perms

    def _where_preds(self, where, schema):
        if where in (None, "", {}):
            return []
        if isinstance(where, str):
            try:
                where = json.loads(where)
            except ValueError:
                raise F.FilterError('Could not parse "where" param as an object')
        if not isinstance(where, dict):
            raise F.FilterError('Could not parse "where" param as an object')
        fl = []
        for attr, value in where.items():
            if attr not in schema.columns:
                continue
            if isinstance(value, list):
                fl.append([attr, "in", value])
            else:
                fl.append([attr, "=", value])
        return F.compile_filters(fl, schema)

    # --- shared model checks -------------------------------------------------------------

    def _check_readable_uuid(self, perms, attr, value, errors):
        """ensure_valid_uuids: a *_uuid attribute must name a readable object."""
        if value is None or value == SYSTEM_USER_UUID:
            return
        t = table_for_uuid(value)
        if t is None:
            return  # not a UUID of a known kind: not an error
        rec = self.tables[t].get(value)
        if rec is None or not perms.readable(t, rec, include_old_versions=True):
            errors.append("%s '%s' not found" % (_humanize(attr), value))

    def _ensure_owner_permitted(self, perms, rec, is_new, old_owner):
        """ArvadosModel#ensure_owner_uuid_is_permitted (403s)."""
        owner = rec.get("owner_uuid")
        if owner is None:
            raise ApiError(403, ["Owner uuid cannot be nil"])
        t = table_for_uuid(owner)
        if t not in ("users", "groups"):
            raise ApiError(403, ["Owner uuid must be set to User or Group"])
        if is_new or owner != old_owner:
            for which, check in (("old", None if is_new else old_owner), ("new", owner)):
                if check is None:
                    continue
                if not perms.can_write(check):
                    raise ApiError(403, ["Owner uuid cannot be set or changed without write permission on %s owner" % which])
                if t == "groups" and (self.tables["groups"].get(owner) or {}).get("group_class") != "project":
                    raise ApiError(403, ["Owner uuid must be a project"])
        elif not perms.can_write(rec["uuid"]):
            raise ApiError(403, ["Uuid  %s is not writable by %s" % (rec["uuid"], perms.user)])

    def _assign(self, table, rec, attrs, creating):
        schema = SCHEMAS[table]
        if not isinstance(attrs, dict):
            raise ApiError(422, ["#<ArgumentError: attributes must be a hash>"])
        for k, v in attrs.items():
            if k in _READ_ONLY or (k == "uuid" and not creating):
                continue
            if k == "portable_data_hash" and table == "collections":
                continue  # checked separately
            if k not in schema.columns:
                raise ApiError(422, ["#<ActiveModel::UnknownAttributeError: unknown attribute '%s' for %s.>"
                                     % (k, schema.model)])
            rec[k] = _cast(schema.columns[k], v)

    def _apply_trash_rules(self, rec, old, now):
        """Trashable: keep trash_at, is_trashed and delete_at consistent."""
        old = old or {}
        trash_changed = rec.get("trash_at") != old.get("trash_at")
        if trash_changed and rec.get("trash_at") is not None:
            rec["trash_at"] = max(now, rec["trash_at"])
        if rec.get("is_trashed") != old.get("is_trashed", False) and not trash_changed:
            rec["trash_at"] = now if rec.get("is_trashed") else None
            trash_changed = rec.get("trash_at") != old.get("trash_at")
        rec["is_trashed"] = bool(rec.get("trash_at") is not None and rec["trash_at"] <= now)
        if trash_changed and rec.get("delete_at") == old.get("delete_at"):
            rec["delete_at"] = None if rec.get("trash_at") is None else rec["trash_at"] + TRASH_LIFETIME_S * 1000000

    def _unique_conflict(self, table, rec):
        """The partial unique index on (owner_uuid, name)."""
        name = rec.get("name")
        if name is None:
            return False
        for other in self.tables[table].values():
            if other["uuid"] == rec["uuid"] or other.get("is_trashed"):
                continue
            if table == "collections" and other.get("current_version_uuid") != other["uuid"]:
                continue
            if other.get("owner_uuid") == rec.get("owner_uuid") and other.get("name") == name:
                return True
        return False

    def _unique_error(self, table, rec):
        return ApiError(422, [
            "#<ActiveRecord::RecordNotUnique: PG::UniqueViolation: ERROR:  duplicate key value violates "
            "unique constraint \"index_%s_on_owner_uuid_and_name\"\nDETAIL:  Key (owner_uuid, name)=(%s, %s) "
            "already exists.\n>" % (table, rec.get("owner_uuid"), rec.get("name"))])

    def _save_new(self, table, rec, ensure_unique_name):
        """Insert with ArvadosModel#save_with_unique_name! semantics: on a
        (owner_uuid, name) collision pick a new uuid and rename to
        "<first 237 chars> (<last 15 chars of the new uuid>)", at most twice."""
        retries = 2
        while self._unique_conflict(table, rec):
            if not ensure_unique_name or retries == 0:
                raise self._unique_error(table, rec)
            retries -= 1
            rec["uuid"] = new_uuid(SCHEMAS[table].infix)
            if table == "collections":
                rec["current_version_uuid"] = rec["uuid"]
            rec["name"] = "%s (%s)" % (rec["name"][:237], rec["uuid"][-15:])
        self.tables[table][rec["uuid"]] = rec

    # --- collections -----------------------------------------------------------------------

    def _prepare_manifest(self, ctx, rec, now):
        text = rec.get("manifest_text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ApiError(422, ["Manifest text No manifest found"])
        try:
            M.validate(text)
        except M.ManifestError as e:
            raise ApiError(422, ["Manifest text %s" % e])
        if not M.check_signatures(text, ctx.token, self.settings.blob_signing_key,
                                  self.cfg["blob_signing_ttl"], now // 1000000):
            raise ApiError(403, [PERMISSION_DENIED])
        rec["manifest_text"] = M.strip_signatures(text)

    def _collection_validations(self, perms, rec, attrs, owner_changed, is_new):
        errors = []
        if is_new or owner_changed:
            self._check_readable_uuid(perms, "owner_uuid", rec.get("owner_uuid"), errors)
        if not isinstance(rec.get("properties"), dict):
            errors.append("Properties must be a hash")
        for attr in ("storage_classes_desired", "storage_classes_confirmed"):
            v = rec.get(attr)
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                errors.append("%s must be an array of strings" % _humanize(attr))
        name = rec.get("name")
        if name in (".", ".."):
            errors.append("Name cannot be '.' or '..'")
        elif name is not None and "/" in name:
            errors.append("Name cannot contain a '/' character")
        computed = M.portable_data_hash(rec["manifest_text"])
        given = attrs.get("portable_data_hash")
        if given:
            if not M.LOCATOR_RE.match(str(given)):
                errors.append("Portable data hash is not a valid locator")
            elif str(given)[:32] != computed[:32]:
                errors.append("Portable data hash '%s' does not match computed hash '%s'" % (given, computed))
        if isinstance(rec.get("storage_classes_desired"), list) and not rec["storage_classes_desired"]:
            errors.append("Storage classes desired must not be empty")
        if errors:
            raise ApiError(422, errors)
        rec["portable_data_hash"] = computed
        rec["file_count"], rec["file_size_total"] = M.file_stats(rec["manifest_text"])

    def create_collection(self, ctx, attrs, ensure_unique_name=False):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            rec = {c: None for c in SCHEMAS["collections"].columns}
            rec.update({"properties": {}, "is_trashed": False, "storage_classes_desired": None,
                        "storage_classes_confirmed": [], "version": 1, "preserve_version": False,
                        "file_count": 0, "file_size_total": 0})
            self._assign("collections", rec, attrs, creating=True)
            if rec.get("uuid") is None:
                rec["uuid"] = new_uuid("4zz18")
            # before_validation callbacks, in Rails' order
            if not rec.get("storage_classes_desired"):
                rec["storage_classes_desired"] = self.default_storage_classes()
            self._prepare_manifest(ctx, rec, now)
            if rec.get("name") == "":
                rec["name"] = None
            if rec.get("owner_uuid") is None:
                rec["owner_uuid"] = ctx.user
            self._apply_trash_rules(rec, None, now)
            self._collection_validations(perms, rec, attrs, True, True)
            self._ensure_owner_permitted(perms, rec, True, None)
            rec.update({"created_at": now, "modified_at": now, "updated_at": now,
                        "modified_by_user_uuid": ctx.user, "current_version_uuid": rec["uuid"]})
            self._save_new("collections", rec, ensure_unique_name)
            return rec

    def update_collection(self, ctx, uuid, attrs):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            old = self.find_readable("collections", uuid, ctx, perms=perms)
            if old.get("current_version_uuid") not in (None, uuid):
                raise ApiError(422, ["Past versions cannot be updated"])
            rec = dict(old)
            self._assign("collections", rec, attrs, creating=False)
            if not attrs.get("preserve_version"):
                # CollectionsController#update: preserve_version is false unless asked for.
                rec["preserve_version"] = False
            if rec.get("manifest_text") != old.get("manifest_text"):
                self._prepare_manifest(ctx, rec, now)
            if rec.get("name") == "":
                rec["name"] = None
            self._apply_trash_rules(rec, old, now)
            owner_changed = rec.get("owner_uuid") != old.get("owner_uuid")
            self._collection_validations(perms, rec, attrs, owner_changed, False)
            self._ensure_owner_permitted(perms, rec, False, old.get("owner_uuid"))
            changed = [k for k in rec if rec.get(k) != old.get(k) and k not in ("updated_at", "preserve_version")]
            if not changed:
                return old
            versionable = set(changed) & {"manifest_text", "description", "properties", "name"}
            snapshot = None
            if versionable and not old.get("is_trashed") and (
                    old.get("preserve_version") or rec.get("preserve_version") or
                    old["modified_at"] <= now - PRESERVE_VERSION_IF_IDLE_S * 1000000):
                # Collection versioning: keep the previous state as a past version.
                snapshot = dict(old)
                snapshot["uuid"] = new_uuid("4zz18")
                snapshot["current_version_uuid"] = uuid
                rec["version"] = old.get("version", 1) + 1
            rec["modified_at"] = now
            rec["updated_at"] = now
            rec["modified_by_user_uuid"] = ctx.user
            if rec.get("name") != old.get("name") or owner_changed or \
                    (old.get("is_trashed") and not rec.get("is_trashed")):
                if self._unique_conflict("collections", rec):
                    raise self._unique_error("collections", rec)
            self.tables["collections"][uuid] = rec
            if snapshot:
                for attr in ("owner_uuid", "delete_at", "trash_at", "is_trashed",
                             "replication_desired", "storage_classes_desired"):
                    snapshot[attr] = rec.get(attr)
                self.tables["collections"][snapshot["uuid"]] = snapshot
            return rec

    def trash_collection(self, ctx, uuid):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            old = self.find_readable("collections", uuid, ctx, include_trash=True, perms=perms)
            if old.get("is_trashed"):
                return old
            self._ensure_owner_permitted(perms, old, False, old.get("owner_uuid"))
            rec = dict(old)
            rec["trash_at"] = now
            self._apply_trash_rules(rec, old, now)
            rec["modified_at"] = rec["updated_at"] = now
            rec["modified_by_user_uuid"] = ctx.user
            self.tables["collections"][uuid] = rec
            return rec

    def untrash_collection(self, ctx, uuid, ensure_unique_name=False):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            old = self.find_readable("collections", uuid, ctx, include_trash=True, perms=perms)
            if not old.get("is_trashed") and old.get("trash_at") is None:
                raise ApiError(422, ["#<ArvadosModel::InvalidStateTransitionError: collection is not in the trash>"])
            self._ensure_owner_permitted(perms, old, False, old.get("owner_uuid"))
            rec = dict(old)
            rec["trash_at"] = None
            rec["is_trashed"] = False
            rec["delete_at"] = None
            rec["modified_at"] = rec["updated_at"] = now
            rec["modified_by_user_uuid"] = ctx.user
            if self._unique_conflict("collections", rec):
                if not ensure_unique_name:
                    raise self._unique_error("collections", rec)
                rec["name"] = "%s (%s)" % (rec["name"][:237], rec["uuid"][-15:])
            self.tables["collections"][uuid] = rec
            return rec

    # --- links ------------------------------------------------------------------------------

    def create_link(self, ctx, attrs, ensure_unique_name=False):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            rec = {c: None for c in SCHEMAS["links"].columns}
            rec["properties"] = {}
            self._assign("links", rec, attrs, creating=True)
            if rec.get("uuid") is None:
                rec["uuid"] = new_uuid("o0j2j")
            if rec.get("owner_uuid") is None:
                rec["owner_uuid"] = ctx.user
            errors = []
            for attr in ("owner_uuid", "tail_uuid", "head_uuid"):
                self._check_readable_uuid(perms, attr, rec.get(attr), errors)
            if not isinstance(rec.get("properties"), dict):
                errors.append("Properties must be a hash")
            if rec.get("link_class") == "name":
                errors.append("Name Name links are obsolete")
            if rec.get("link_class") == "permission":
                self._permission_link_checks(perms, rec, errors)
            if errors:
                raise ApiError(422, errors)
            if rec.get("link_class") == "permission":
                if perms.level_of_uuid(rec.get("head_uuid")) < 3:
                    raise ApiError(403, [PERMISSION_DENIED])
                rec["owner_uuid"] = SYSTEM_USER_UUID
                self._max_overlapping_permission(rec)
            else:
                self._ensure_owner_permitted(perms, rec, True, None)
            rec.update({"created_at": now, "modified_at": now, "updated_at": now,
                        "modified_by_user_uuid": ctx.user})
            self.tables["links"][rec["uuid"]] = rec
            if rec.get("link_class") == "permission":
                self._delete_overlapping_permissions(rec)
            return rec

    def _permission_link_checks(self, perms, rec, errors):
        if rec.get("name") not in ("can_read", "can_write", "can_manage", "can_login"):
            errors.append("Name is invalid permission, must be one of 'can_read', 'can_write', "
                          "'can_manage', 'can_login'")
            return
        tail = rec.get("tail_uuid")
        if table_for_uuid(tail) == "groups":
            g = self.tables["groups"].get(tail)
            if g is None:
                errors.append("Tail uuid does not exist")
            elif g.get("group_class") != "role":
                errors.append("Tail uuid must be a user or role, was group with group_class %s" % g.get("group_class"))
            return
        if table_for_uuid(tail) != "users":
            errors.append("Tail uuid must be a user or role")
            return
        head = rec.get("head_uuid")
        t = table_for_uuid(head)
        if t is None or self.tables[t].get(head) is None:
            errors.append("Head uuid does not exist")

    def _max_overlapping_permission(self, rec):
        if rec.get("name") not in LEVELS:
            return
        for other in self.tables["links"].values():
            if other["uuid"] != rec["uuid"] and other.get("link_class") == "permission" \
                    and other.get("tail_uuid") == rec.get("tail_uuid") \
                    and other.get("head_uuid") == rec.get("head_uuid") \
                    and LEVELS.get(other.get("name"), -1) > LEVELS[rec["name"]]:
                rec["name"] = other["name"]

    def _delete_overlapping_permissions(self, rec):
        if rec.get("name") not in LEVELS:
            return
        for uuid in [u for u, o in self.tables["links"].items()
                     if u != rec["uuid"] and o.get("link_class") == "permission"
                     and o.get("tail_uuid") == rec.get("tail_uuid")
                     and o.get("head_uuid") == rec.get("head_uuid") and o.get("name") in LEVELS]:
            del self.tables["links"][uuid]

    def update_link(self, ctx, uuid, attrs):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            old = self.find_readable("links", uuid, ctx, perms=perms)
            rec = dict(old)
            self._assign("links", rec, attrs, creating=False)
            errors = []
            for attr in ("owner_uuid", "tail_uuid", "head_uuid"):
                if rec.get(attr) != old.get(attr):
                    self._check_readable_uuid(perms, attr, rec.get(attr), errors)
            if not isinstance(rec.get("properties"), dict):
                errors.append("Properties must be a hash")
            if errors:
                raise ApiError(422, errors)
            if rec.get("link_class") == "permission":
                if perms.level_of_uuid(rec.get("head_uuid")) < 3:
                    raise ApiError(403, [PERMISSION_DENIED])
                rec["owner_uuid"] = SYSTEM_USER_UUID
            else:
                self._ensure_owner_permitted(perms, rec, False, old.get("owner_uuid"))
            if rec != old:
                rec["modified_at"] = rec["updated_at"] = now
                rec["modified_by_user_uuid"] = ctx.user
            self.tables["links"][uuid] = rec
            return rec

    def delete_link(self, ctx, uuid):
        with self.lock:
            perms = Perms(self, ctx.user)
            rec = self.find_readable("links", uuid, ctx, perms=perms)
            if rec.get("link_class") == "permission":
                if perms.level_of_uuid(rec.get("head_uuid")) < 3:
                    raise ApiError(403, [PERMISSION_DENIED])
            else:
                self._ensure_owner_permitted(perms, rec, False, rec.get("owner_uuid"))
            del self.tables["links"][uuid]
            return rec

    # --- groups -------------------------------------------------------------------------------

    def create_group(self, ctx, attrs, ensure_unique_name=False, as_system=False):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            rec = {c: None for c in SCHEMAS["groups"].columns}
            rec.update({"properties": {}, "is_trashed": False})
            self._assign("groups", rec, attrs, creating=True)
            if rec.get("uuid") is None:
                rec["uuid"] = new_uuid("j7d0g")
            if rec.get("owner_uuid") is None:
                rec["owner_uuid"] = ctx.user
            self._apply_trash_rules(rec, None, now)
            errors = []
            if not as_system:
                self._check_readable_uuid(perms, "owner_uuid", rec.get("owner_uuid"), errors)
            if not rec.get("name"):
                errors.append("Name can't be blank")
            if rec.get("group_class") not in ("project", "role", "filter"):
                errors.append("Group class must be one of 'project', 'role', 'filter'")
            if not isinstance(rec.get("properties"), dict):
                errors.append("Properties must be a hash")
            if errors:
                raise ApiError(422, errors)
            if not as_system:
                self._ensure_owner_permitted(perms, rec, True, None)
            rec.update({"created_at": now, "modified_at": now, "updated_at": now,
                        "modified_by_user_uuid": ctx.user})
            self._save_new("groups", rec, ensure_unique_name)
            return rec

    def trash_group(self, ctx, uuid):
        with self.lock:
            now = now_us()
            perms = Perms(self, ctx.user)
            old = self.find_readable("groups", uuid, ctx, include_trash=True, perms=perms)
            self._ensure_owner_permitted(perms, old, False, old.get("owner_uuid"))
            rec = dict(old)
            rec["trash_at"] = now
            self._apply_trash_rules(rec, old, now)
            rec["modified_at"] = rec["updated_at"] = now
            self.tables["groups"][uuid] = rec
            return rec

    # --- seeding (test hook) --------------------------------------------------------------------

    def seed(self, spec):
        """Insert records as given, bypassing permissions and signatures.
        Timestamps, owners and uuids may be given; the rest is defaulted the
        way the server would. Collections keep the unique name rule."""
        out = {"groups": [], "collections": [], "links": []}
        with self.lock:
            for table in ("groups", "collections", "links"):
                # (owner_uuid, name) pairs in use, so that seeding thousands
                # of records does not rescan the table for each one.
                taken = set((r.get("owner_uuid"), r.get("name")) for r in self.tables[table].values()
                            if r.get("name") is not None and not r.get("is_trashed")
                            and r.get("current_version_uuid", r["uuid"]) in (None, r["uuid"]))
                for attrs in spec.get(table) or []:
                    out[table].append(self._seed_one(table, dict(attrs), taken))
        return out

    def _seed_one(self, table, attrs, taken):
        schema = SCHEMAS[table]
        now = now_us()
        rec = {c: None for c in schema.columns}
        rec["properties"] = {}
        owner = attrs.pop("owner_uuid", None) or USERS[0]["uuid"]
        u = self.user_by_name_or_uuid(owner)
        rec["owner_uuid"] = u["uuid"] if u else owner
        for k, v in attrs.items():
            if k not in schema.columns:
                raise ApiError(422, ["unknown attribute '%s' for %s" % (k, schema.model)], source="sim")
            rec[k] = _cast(schema.columns[k], v)
        rec["uuid"] = rec.get("uuid") or new_uuid(schema.infix)
        if rec["uuid"] in self.tables[table]:
            raise ApiError(422, ["uuid %s already exists" % rec["uuid"]], source="sim")
        rec["created_at"] = rec.get("created_at") if rec.get("created_at") is not None else now
        rec["modified_at"] = rec.get("modified_at") if rec.get("modified_at") is not None else rec["created_at"]
        rec["updated_at"] = rec["modified_at"]
        if rec.get("modified_by_user_uuid") is None:
            owner_user = rec["owner_uuid"] if table_for_uuid(rec["owner_uuid"]) == "users" else USERS[0]["uuid"]
            rec["modified_by_user_uuid"] = owner_user
        if table == "collections":
            text = rec.get("manifest_text") or ""
            try:
                M.validate(text)
            except M.ManifestError as e:
                raise ApiError(422, ["Manifest text %s" % e], source="sim")
            rec["manifest_text"] = M.strip_signatures(text)
            rec["portable_data_hash"] = M.portable_data_hash(rec["manifest_text"])
            rec["file_count"], rec["file_size_total"] = M.file_stats(rec["manifest_text"])
            if not rec.get("storage_classes_desired"):
                rec["storage_classes_desired"] = self.default_storage_classes()
            rec["storage_classes_confirmed"] = rec.get("storage_classes_confirmed") or []
            rec["version"] = rec.get("version") or 1
            rec["preserve_version"] = bool(rec.get("preserve_version"))
            rec["current_version_uuid"] = rec.get("current_version_uuid") or rec["uuid"]
            if rec.get("name") == "":
                rec["name"] = None
        if table in ("collections", "groups"):
            rec["is_trashed"] = bool(rec.get("trash_at") is not None and rec["trash_at"] <= now)
            if table == "groups" and rec.get("group_class") is None:
                rec["group_class"] = "project"
        key = (rec["owner_uuid"], rec.get("name"))
        if table in ("collections", "groups") and rec.get("name") is not None and not rec.get("is_trashed") \
                and rec.get("current_version_uuid", rec["uuid"]) in (None, rec["uuid"]):
            if key in taken:
                raise ApiError(422, ["duplicate (owner_uuid, name) = (%s, %s)" % key], source="sim")
            taken.add(key)
        self.tables[table][rec["uuid"]] = rec
        return render_raw(table, rec)

    def dump(self):
        with self.lock:
            return {t: [render_raw(t, r) for r in self.tables[t].values()]
                    for t in ("users", "groups", "collections", "links")}

    # --- rendering --------------------------------------------------------------------------------

    def render(self, table, rec, ctx, perms=None, select=None, mode="get"):
        """A record as the controller sends it (Go struct fields, zero values
        for missing strings, sorted keys at encoding time)."""
        with self.lock:
            return self._render(table, rec, ctx, perms, select, mode)

    def render_list(self, table, recs, ctx, perms, select):
        """render(mode="list") of each of `recs`, under one lock. Links with
        `select` (what a listing of many images asks) take a direct path
        that builds the same dictionaries with less work per record."""
        with self.lock:
            if table == "links" and select:
                fields = [(k, _LINK_FIELDS[k]) for k in select if k in _LINK_FIELDS and k != "kind"]
                etag = "etag" in select
                out = []
                for rec in recs:
                    item = {k: f(rec) for k, f in fields}
                    item["kind"] = "arvados#link"
                    item["etag"] = etag_for(rec) if etag else ""
                    out.append(item)
                return out
            return [self._render(table, r, ctx, perms, select, "list") for r in recs]

    def _render(self, table, rec, ctx, perms, select, mode):
        # With `select`, only the attributes asked for are computed: the
        # etag digest and the manifest signatures cost most, and a listing
        # of thousands of images selects a few columns (the simulated server
        # should not be what a benchmark of the client measures). The result
        # is the full rendering restricted to `select` either way.
        keys = None if not select else set(select) | {"kind"}
        if table == "collections":
            out = self._render_collection(rec, ctx, mode, keys)
        elif table == "links":
            out = _pick(_LINK_FIELDS, rec, keys)
        elif table == "groups":
            perms = perms or Perms(self, ctx.user)
            lvl = perms.level("groups", rec)
            out = _render_group(rec, lvl)
        else:
            out = _render_user(rec, rec["uuid"] == ctx.user)
        if select:
            sel = {k: out[k] for k in select if k in out}
            sel["kind"] = out["kind"]
            sel["etag"] = out["etag"] if "etag" in select else ""
            return sel
        return out

    def _render_collection(self, rec, ctx, mode, keys=None):
        out = _pick(_COLLECTION_FIELDS, rec, keys)
        text = rec.get("manifest_text") or ""
        if keys is None or "manifest_text" in keys:
            signed = text
            if text and not rec.get("is_trashed") and ctx.token:
                ttl = self.cfg["blob_signing_ttl"]
                exp = int(time.time()) + ttl
                if rec.get("trash_at") is not None and rec["trash_at"] // 1000000 < exp:
                    exp = rec["trash_at"] // 1000000
                signed = M.sign_manifest(text, ctx.token, self.settings.blob_signing_key, ttl, exp)
            out["manifest_text"] = signed
        # Rails' show omits unsigned_manifest_text; the controller's struct
        # then fills in "". The index action includes it.
        out["unsigned_manifest_text"] = text if mode == "list" else ""
        return out


def _s(v):
    return "" if v is None else v


def _pick(fields, rec, keys):
    """Render `rec` with a field table: every field, or only `keys`."""
    if keys is None:
        return {k: f(rec) for k, f in fields.items()}
    return {k: fields[k](rec) for k in keys if k in fields}


# The controller's JSON for a collection (without the manifest texts) and a
# link: attribute -> how it is rendered from the stored record.
_COLLECTION_FIELDS = {
    "kind": lambda r: "arvados#collection",
    "etag": etag_for,
    "uuid": lambda r: r["uuid"],
    "owner_uuid": lambda r: _s(r.get("owner_uuid")),
    "created_at": lambda r: fmt_ts(r.get("created_at")),
    "modified_at": lambda r: fmt_ts(r.get("modified_at")),
    "modified_by_user_uuid": lambda r: _s(r.get("modified_by_user_uuid")),
    "name": lambda r: _s(r.get("name")),
    "description": lambda r: r.get("description") or None,
    "properties": lambda r: r.get("properties") if r.get("properties") is not None else {},
    "portable_data_hash": lambda r: _s(r.get("portable_data_hash")),
    "replication_desired": lambda r: r.get("replication_desired"),
    "replication_confirmed": lambda r: r.get("replication_confirmed"),
    "replication_confirmed_at": lambda r: fmt_ts(r.get("replication_confirmed_at")),
    "storage_classes_desired": lambda r: r.get("storage_classes_desired"),
    "storage_classes_confirmed": lambda r: r.get("storage_classes_confirmed") or [],
    "storage_classes_confirmed_at": lambda r: fmt_ts(r.get("storage_classes_confirmed_at")),
    "delete_at": lambda r: fmt_ts(r.get("delete_at")),
    "trash_at": lambda r: fmt_ts(r.get("trash_at")),
    "is_trashed": lambda r: bool(r.get("is_trashed")),
    "version": lambda r: r.get("version") or 1,
    "current_version_uuid": lambda r: _s(r.get("current_version_uuid")),
    "preserve_version": lambda r: bool(r.get("preserve_version")),
    "file_count": lambda r: r.get("file_count") or 0,
    "file_size_total": lambda r: r.get("file_size_total") or 0,
}

_LINK_FIELDS = {
    "kind": lambda r: "arvados#link",
    "etag": etag_for,
    "uuid": lambda r: r["uuid"],
    "owner_uuid": lambda r: _s(r.get("owner_uuid")),
    "created_at": lambda r: fmt_ts(r.get("created_at")),
    "modified_at": lambda r: fmt_ts(r.get("modified_at")),
    "modified_by_user_uuid": lambda r: _s(r.get("modified_by_user_uuid")),
    "tail_uuid": lambda r: _s(r.get("tail_uuid")),
    "link_class": lambda r: _s(r.get("link_class")),
    "name": lambda r: _s(r.get("name")),
    "head_uuid": lambda r: _s(r.get("head_uuid")),
    "head_kind": lambda r: _s(kind_for_uuid(r.get("head_uuid"))),
    "tail_kind": lambda r: _s(kind_for_uuid(r.get("tail_uuid"))),
    "properties": lambda r: r.get("properties"),
}


def _render_group(rec, level):
    return {
        "kind": "arvados#group", "etag": etag_for(rec), "uuid": rec["uuid"],
        "owner_uuid": _s(rec.get("owner_uuid")), "created_at": fmt_ts(rec.get("created_at")),
        "modified_at": fmt_ts(rec.get("modified_at")),
        "modified_by_user_uuid": _s(rec.get("modified_by_user_uuid")),
        "name": _s(rec.get("name")), "group_class": _s(rec.get("group_class")),
        "description": rec.get("description") or None, "trash_at": fmt_ts(rec.get("trash_at")),
        "delete_at": fmt_ts(rec.get("delete_at")), "is_trashed": bool(rec.get("is_trashed")),
        "properties": rec.get("properties") if rec.get("properties") is not None else {},
        "frozen_by_uuid": rec.get("frozen_by_uuid") or None,
        "can_write": level >= 2, "can_manage": level >= 3,
    }


def _render_user(rec, is_self):
    full = " ".join(x for x in (rec.get("first_name"), rec.get("last_name")) if x)
    return {
        "kind": "arvados#user", "etag": etag_for(rec), "uuid": rec["uuid"],
        "owner_uuid": _s(rec.get("owner_uuid")), "created_at": fmt_ts(rec.get("created_at")),
        "modified_at": fmt_ts(rec.get("modified_at")),
        "modified_by_user_uuid": _s(rec.get("modified_by_user_uuid")),
        "email": _s(rec.get("email")), "username": _s(rec.get("username")), "full_name": full,
        "first_name": _s(rec.get("first_name")), "last_name": _s(rec.get("last_name")),
        "identity_url": _s(rec.get("identity_url")), "is_active": bool(rec.get("is_active")),
        "is_admin": bool(rec.get("is_admin")), "is_invited": True,
        "prefs": rec.get("prefs") or {}, "can_write": is_self, "can_manage": is_self,
    }


def render_raw(table, rec):
    """A record for /_sim/dump: every column, timestamps formatted, manifest
    unsigned (as stored)."""
    schema = SCHEMAS[table]
    out = {}
    for k, typ in schema.columns.items():
        if k in ("updated_at", "file_names", "modified_by_client_uuid"):
            continue
        v = rec.get(k)
        out[k] = fmt_ts(v) if typ == "datetime" else v
    out["kind"] = TABLE_KIND[table]
    if table == "links":
        out["head_kind"] = kind_for_uuid(rec.get("head_uuid"))
        out["tail_kind"] = kind_for_uuid(rec.get("tail_uuid"))
    return out
