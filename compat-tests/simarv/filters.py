"""List semantics of the Rails API server (contract §2.1): `filters`,
`order`, `select`, `limit`/`offset`, `count`.

Filters are compiled into Python predicates that reproduce the SQL that
Rails' RecordFilters would generate, including its NULL handling:
  * `!=` explicitly also matches NULL; `=`/`<`/`like`/`in` never match NULL;
  * `in []` matches nothing; `not in []` matches only NULL (SQL `NOT IN (NULL)`);
  * `properties.<key> in []` adds no condition at all, so it matches everything;
  * `like`/`ilike` operands are raw SQL patterns (`%`, `_`, backslash escape).
Errors are raised as FilterError carrying the Ruby ArgumentError message;
the API turns them into 422 responses like Rails does.

String ordering is by code point (a "C" collation); PostgreSQL clusters often
use a locale collation, which only differs for mixed-case or punctuation.
"""

import json
import re

from .util import parse_ts, ruby_inspect, ruby_class

MAX_LIMIT = 1000       # API.MaxItemsPerResponse default
DEFAULT_LIMIT = 100    # Rails LoadParam::DEFAULT_LIMIT


class FilterError(ValueError):
    """An ArgumentError raised while loading list parameters (422)."""


class Schema(object):
    """Column types of one table: string, text, datetime, integer, boolean, jsonb."""

    def __init__(self, table, model, infix, columns, api_attrs):
        self.table = table
        self.model = model
        self.infix = infix
        self.columns = columns
        self.api_attrs = api_attrs

    def searchable(self, op):
        textonly = not re.search(r"[<=>]", op) and op not in ("in", "not in")
        out = []
        for name, typ in self.columns.items():
            if typ in ("string", "text"):
                out.append(name)
            elif typ in ("datetime", "integer", "boolean") and not textonly:
                out.append(name)
        return out


# Kinds accepted by the `is_a` operator and the infix they stand for.
KIND_INFIX = {
    "arvados#collection": "4zz18",
    "arvados#link": "o0j2j",
    "arvados#group": "j7d0g",
    "arvados#user": "tpzed",
    "arvados#keepService": "bi6l4",
    "arvados#apiClientAuthorization": "gj3su",
}


def _to_s(v):
    # Ruby's "#{v}" interpolation.
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    return ruby_inspect(v)


def like_regex(pattern, case_insensitive):
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + r"\Z", re.S | (re.I if case_insensitive else 0))


# --- jsonb helpers -------------------------------------------------------------

def _jtype(v):
    if isinstance(v, dict):
        return 5
    if isinstance(v, list):
        return 4
    if isinstance(v, bool):
        return 3
    if isinstance(v, (int, float)):
        return 2
    if isinstance(v, str):
        return 1
    return 0


def jsonb_equal(a, b):
    ta, tb = _jtype(a), _jtype(b)
    if ta != tb:
        return False
    if ta == 5:
        return a.keys() == b.keys() and all(jsonb_equal(a[k], b[k]) for k in a)
    if ta == 4:
        return len(a) == len(b) and all(jsonb_equal(x, y) for x, y in zip(a, b))
    return a == b


def jsonb_contains(a, b, top=True):
    """PostgreSQL's `a @> b`."""
    if isinstance(b, dict):
        return isinstance(a, dict) and all(k in a and jsonb_contains(a[k], v, False) for k, v in b.items())
    if isinstance(b, list):
        if not isinstance(a, list):
            return False
        return all(any(jsonb_contains(x, y, False) for x in a) for y in b)
    if isinstance(a, list) and top:
        return any(jsonb_equal(x, b) for x in a)
    return jsonb_equal(a, b)


def jsonb_compare(a, b):
    ta, tb = _jtype(a), _jtype(b)
    if ta != tb:
        return (ta > tb) - (ta < tb)
    if ta in (4, 5):
        sa, sb = json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)
        return (sa > sb) - (sa < sb)
    if ta == 0:
        return 0
    return (a > b) - (a < b)


def jsonb_text(v):
    """PostgreSQL's `->>`: strings unquoted, JSON null is SQL NULL."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, separators=(", ", ": "))


def jsonb_exists(v, key):
    if isinstance(v, dict):
        return key in v
    if isinstance(v, list):
        return key in [x for x in v if isinstance(x, str)]
    return isinstance(v, str) and v == key


_MISSING = object()


# --- compiling filters -----------------------------------------------------------

def compile_filters(filters, schema):
    """Turn a filters array into a list of predicates over internal records."""
    if filters is None or filters == "":
        return []
    if isinstance(filters, str):
        try:
            filters = json.loads(filters)
        except ValueError:
            raise FilterError('Could not parse "filters" param as an array')
    if not isinstance(filters, list):
        raise FilterError('Could not parse "filters" param as an array')
    preds = []
    for f in filters:
        if isinstance(f, list):
            attrs_in = f[0] if len(f) > 0 else None
            operator = f[1] if len(f) > 1 else None
            operand = f[2] if len(f) > 2 else None
        else:
            attrs_in, operator, operand = f, None, None
        if operator == "@@":
            raise FilterError("Full text search operator is no longer supported")
        if not isinstance(f, list):
            raise FilterError("Invalid element in filters array: %s is not an array" % ruby_inspect(f))
        if not isinstance(operator, str):
            raise FilterError("Invalid operator '%s' (%s) in filter" % (_to_s(operator), ruby_class(operator)))
        operator = operator.lower()
        if attrs_in == "any":
            attrs = [a for a in schema.searchable(operator) if schema.columns[a] != "datetime"]
        elif isinstance(attrs_in, list):
            attrs = attrs_in
        else:
            attrs = [attrs_in]
        conds = []
        for attr in attrs:
            c = _compile_one(schema, str(attr), operator, operand)
            if c is not None:
                conds.append(c)
        if not conds:
            continue
        if len(conds) == 1:
            preds.append(conds[0])
        else:
            preds.append(lambda rec, conds=conds: any(c(rec) for c in conds))
    return preds


def _compile_one(schema, attr, operator, operand):
    parts = attr.split(".", 1)
    name = parts[0]
    proppath = parts[1] if len(parts) == 2 else None
    coltype = schema.columns.get(name)
    if proppath is not None:
        if coltype != "jsonb":
            raise FilterError("Invalid attribute '%s' for subproperty filter" % name)
        if proppath.startswith("<") and proppath.endswith(">"):
            proppath = proppath[1:-1]
        return _compile_subproperty(name, proppath, operator, operand)
    if operator == "exists":
        if coltype != "jsonb":
            raise FilterError("Invalid attribute '%s' for operator '%s' in filter" % (name, operator))
        return lambda rec: rec.get(name) is not None and jsonb_exists(rec.get(name), operand)
    if name not in schema.searchable(operator) and not (coltype == "jsonb" and operator in ("contains", "=", "<>", "!=")):
        raise FilterError("Invalid attribute '%s' in filter" % name)

    if operator in ("=", "<", "<=", ">", ">=", "!=", "like", "ilike"):
        if operator == "!=":
            operator = "<>"
        return _compile_compare(name, coltype, operator, operand)
    if operator in ("in", "not in"):
        if not isinstance(operand, list):
            raise FilterError("Invalid operand type '%s' for '%s' operator in filters" % (ruby_class(operand), operator))
        if coltype == "integer":
            for el in operand:
                if not _is_int(el):
                    raise FilterError("Invalid element '%s' in array for integer attribute '%s'" % (_to_s(el), name))
        values = set()
        has_null = False
        for el in operand:
            if el is None:
                has_null = True
            else:
                values.add(_coerce(coltype, el))
        if operator == "in":
            return lambda rec: rec.get(name) is not None and rec.get(name) in values
        if has_null:
            return lambda rec: False
        if not operand:
            return lambda rec: rec.get(name) is None
        return lambda rec: rec.get(name) is None or rec.get(name) not in values
    if operator == "is_a":
        kinds = operand if isinstance(operand, list) else [operand]
        infixes = [KIND_INFIX.get(k) for k in kinds]
        if name == "uuid":
            ok = schema.infix in infixes
            return lambda rec: ok
        wanted = set(i for i in infixes if i)
        return lambda rec: isinstance(rec.get(name), str) and rec.get(name)[6:11] in wanted
    if operator == "contains":
        if coltype != "jsonb":
            raise FilterError("Invalid attribute '%s' for '%s' operator" % (name, operator))
        if operand == []:
            raise FilterError("Invalid operand '%s' for '%s' operator" % (ruby_inspect(operand), operator))
        ops = operand if isinstance(operand, list) else [operand]
        for op in ops:
            if not isinstance(op, str):
                raise FilterError("Invalid element %s in operand for %s operator (operand must be a string or array of strings)"
                                  % (ruby_inspect(operand), ruby_inspect(operator)))
        return lambda rec: rec.get(name) is not None and all(jsonb_exists(rec.get(name), o) for o in ops)
    raise FilterError("Invalid operator '%s'" % operator)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v.bit_length() <= 64


def _coerce(coltype, v):
    """Cast an operand to the column's type the way PostgreSQL would."""
    if coltype == "datetime" and isinstance(v, str):
        try:
            return parse_ts(v)
        except ValueError as e:
            raise FilterError(str(e))
    if coltype == "integer" and isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            raise FilterError('PG::InvalidTextRepresentation: ERROR:  invalid input syntax for type bigint: "%s"' % v)
    return v


_CMP = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compile_compare(name, coltype, operator, operand):
    if isinstance(operand, str):
        if coltype == "boolean":
            if operator not in ("=", "<>"):
                raise FilterError("Invalid operator '%s' for boolean attribute '%s'" % (operator, name))
            low = operand.lower()
            if low in ("1", "t", "true", "y", "yes"):
                operand = True
            elif low in ("0", "f", "false", "n", "no"):
                operand = False
            else:
                raise FilterError("Invalid operand '%s' for boolean attribute '%s'" % (operand, name))
        elif coltype == "jsonb":
            try:
                operand = json.loads(operand)
            except ValueError:
                raise FilterError('PG::InvalidTextRepresentation: ERROR:  invalid input syntax for type json')
            if operator == "<>":
                return lambda rec: rec.get(name) is None or not jsonb_equal(rec.get(name), operand)
            return lambda rec: rec.get(name) is not None and jsonb_equal(rec.get(name), operand)
        elif coltype == "datetime" and operator not in ("like", "ilike"):
            operand = _coerce(coltype, operand)
        elif coltype == "integer":
            operand = _coerce(coltype, operand)
        if operator == "<>":
            return lambda rec: rec.get(name) is None or rec.get(name) != operand
        if operator in ("like", "ilike"):
            rx = like_regex(operand, operator == "ilike")
            return lambda rec: isinstance(rec.get(name), str) and rx.match(rec.get(name)) is not None
        cmp = _CMP[operator]
        return lambda rec: rec.get(name) is not None and cmp(rec.get(name), operand)
    if operand is None and operator == "=":
        return lambda rec: rec.get(name) is None
    if operand is None and operator == "<>":
        return lambda rec: rec.get(name) is not None
    if coltype == "boolean" and operator in ("=", "<>") and isinstance(operand, bool):
        if operator == "=":
            return lambda rec: rec.get(name) is not None and rec.get(name) == operand
        return lambda rec: rec.get(name) is not None and rec.get(name) != operand
    if coltype == "integer":
        if not _is_int(operand):
            raise FilterError("Invalid operand '%s' for integer attribute '%s'" % (_to_s(operand), name))
        if operator == "<>":
            return lambda rec: rec.get(name) is not None and rec.get(name) != operand
        if operator in ("like", "ilike"):
            raise FilterError("Invalid attribute '%s' in filter" % name)
        cmp = _CMP[operator]
        return lambda rec: rec.get(name) is not None and cmp(rec.get(name), operand)
    raise FilterError("Invalid operand type '%s' for '%s' operator in filters" % (ruby_class(operand), operator))


def _compile_subproperty(col, key, operator, operand):
    def getv(rec):
        props = rec.get(col)
        if not isinstance(props, dict) or key not in props:
            return _MISSING
        return props[key]

    if operator in ("=", "!="):
        want = {key: operand}
        if operator == "=":
            return lambda rec: rec.get(col) is not None and jsonb_contains(rec.get(col), want)
        return lambda rec: rec.get(col) is not None and not jsonb_contains(rec.get(col), want)
    if operator == "in":
        if not isinstance(operand, list):
            raise FilterError("Invalid operand type '%s' for '%s' operator in filters" % (ruby_class(operand), operator))
        if not operand:
            return None  # Rails adds no SQL condition at all
        wants = [{key: o} for o in operand]
        return lambda rec: rec.get(col) is not None and any(jsonb_contains(rec.get(col), w) for w in wants)
    if operator in ("<", "<=", ">", ">="):
        def cmp_pred(rec):
            v = getv(rec)
            if v is _MISSING:
                return False
            c = jsonb_compare(v, operand)
            return {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[operator]
        return cmp_pred
    if operator in ("like", "ilike"):
        if not isinstance(operand, str):
            raise FilterError("Invalid operand type '%s' for '%s' operator in filters" % (ruby_class(operand), operator))
        rx = like_regex(operand, operator == "ilike")

        def like_pred(rec):
            v = getv(rec)
            t = None if v is _MISSING else jsonb_text(v)
            return t is not None and rx.match(t) is not None
        return like_pred
    if operator == "not in":
        if not isinstance(operand, list):
            raise FilterError("Invalid operand type '%s' for '%s' operator in filters" % (ruby_class(operand), operator))
        texts = set(jsonb_text(o) if not isinstance(o, str) else o for o in operand)

        def notin_pred(rec):
            v = getv(rec)
            t = None if v is _MISSING else jsonb_text(v)
            if t is None:
                return True
            if not operand:
                return False  # `NOT IN (NULL)` is never true
            return t not in texts
        return notin_pred
    if operator == "exists":
        if operand is True:
            return lambda rec: getv(rec) is not _MISSING
        if operand is False:
            return lambda rec: getv(rec) is _MISSING
        raise FilterError("Invalid operand '%s' for '%s' must be true or false" % (_to_s(operand), operator))
    if operator == "contains":
        w1, w2 = {key: operand}, {key: [operand]}
        return lambda rec: rec.get(col) is not None and (jsonb_contains(rec.get(col), w1) or jsonb_contains(rec.get(col), w2))
    raise FilterError("Invalid operator for subproperty search '%s'" % operator)


# --- order, select, limit ----------------------------------------------------------

def parse_order(order, schema):
    """Rails' load_limit_offset_order_params + optimize_orders: returns a list
    of (column, descending). Invalid entries are silently dropped."""
    entries = []
    if isinstance(order, str):
        if order.startswith("["):
            try:
                order = json.loads(order)
            except ValueError:
                raise FilterError("Invalid order")
        else:
            order = order.split(",")
    if not isinstance(order, list):
        order = []
    for o in order:
        words = str(o).split()
        if not words:
            continue
        attr = words[0]
        direction = words[1].lower() if len(words) > 1 else "asc"
        if direction not in ("asc", "desc"):
            continue
        if "." in attr:
            table, _, col = attr.partition(".")
            if table != schema.table:
                continue
            attr = col
        if not re.match(r"^[a-z][_a-z0-9]+$", attr) or attr not in schema.columns:
            continue
        entries.append((attr, direction == "desc"))
    out = []
    used = set()
    for attr, desc in entries + [("modified_at", True), ("uuid", True)]:
        if attr in used:
            continue
        used.add(attr)
        out.append((attr, desc))
        if attr == "uuid":
            break  # uuid is unique: anything after it is superfluous
    return out


def _sort_key(coltype, v):
    if coltype == "jsonb":
        return json.dumps(v, sort_keys=True)
    return v


def sort_records(records, orders, schema):
    """Sort like PostgreSQL: NULLS LAST for asc, NULLS FIRST for desc."""
    records = list(records)

    def key_of(attr):
        ct = schema.columns.get(attr)

        def key(r):
            v = r.get(attr)
            return (True, 0) if v is None else (False, _sort_key(ct, v))
        return key

    if orders and len({desc for _, desc in orders}) == 1:
        # One direction: one sort on the tuple of keys (same order as the
        # passes below, fewer key calls).
        keys = [key_of(attr) for attr, _ in orders]
        records.sort(key=lambda r: tuple(k(r) for k in keys), reverse=orders[0][1])
        return records
    for attr, desc in reversed(orders):
        records.sort(key=key_of(attr), reverse=desc)  # stable, so earlier keys win
    return records


def parse_select(select, schema):
    """Validate `select`: a list of API attribute names (or table.attr)."""
    if select is None:
        return None
    if isinstance(select, str):
        try:
            select = json.loads(select)
        except ValueError:
            raise FilterError('Could not parse "select" param as an array')
    if select is False:
        return None
    if not isinstance(select, list):
        raise FilterError('Could not parse "select" param as an array')
    out = []
    for col in select:
        col = str(col)
        if col == "modified_by_client_uuid":
            continue
        sp = col.split(".")
        if len(sp) == 2 and sp[0] == schema.table and sp[1] in schema.api_attrs:
            out.append(sp[1])
        elif col in schema.api_attrs:
            out.append(col)
        else:
            raise FilterError("Invalid attribute '%s' of %s in select parameter" % (col, schema.model))
    return out


def parse_limit_offset(params):
    limit = params.get("limit")
    if limit is None or (isinstance(limit, int) and limit < 0):
        # The controller drops a negative limit ("not specified").
        limit = DEFAULT_LIMIT
    else:
        if not re.match(r"^\d+$", str(limit)):
            raise FilterError("Invalid value for limit parameter")
        limit = min(int(limit), MAX_LIMIT)
    offset = params.get("offset")
    if offset is None:
        offset = 0
    else:
        if not re.match(r"^\d+$", str(offset)):
            raise FilterError("Invalid value for offset parameter")
        offset = int(offset)
    return limit, offset
