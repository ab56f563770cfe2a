"""Every place where this addon relies on Odoo ORM internals that are not public API.

Each seam is what an Odoo upgrade breaks first, so they live here, each with the reason it
exists, and each has a test in ``tests/test_orm_seams.py`` that fails naming the seam when
Odoo changes the behaviour it relies on.

1. ``IntArrayField``: an ``int4[]`` column (``fields.Field`` subclass with ``column_type``).
   The record rules of crm.email read one array per row instead of joining relation tables.
2. ``condition_to_sql`` hook (``BaseModel._condition_to_sql``): crm.email compiles its two
   array conditions itself (array overlap with a sub-select), which no domain operator says.
3. ``check_access_in_sql`` (``BaseModel._check_access`` returning ``(forbidden, error)``):
   record-level checks run the rule domain in SQL instead of Odoo's Python evaluation, which
   would load every relation the rules mention.
4. ``insert_created_rows``: rows inserted with one SQL statement, then announced to the ORM as
   an ORM create would (``modified(create=True)`` and queued stored computes), so caches and
   dependent stored fields stay right.
"""

import functools

from odoo import fields
from odoo.exceptions import AccessError
from odoo.osv import expression
from odoo.tools import SQL


class IntArrayField(fields.Field):
    """An ``int4[]`` column, searched only through the model's own ``_condition_to_sql``."""

    type = "integer"
    column_type = ("_int4", "int4[]")
    aggregator = None

    def convert_to_column(self, value, record, values=None, validate=True):
        return sorted({int(v) for v in value}) if value else None

    def convert_to_cache(self, value, record, validate=True):
        return tuple(sorted({int(v) for v in value})) if value else ()

    def convert_to_record(self, value, record):
        return tuple(value) if value else ()

    def convert_to_read(self, value, record, use_display_name=True):
        return list(value or ())

    def convert_to_export(self, value, record):
        return ",".join(map(str, value or ()))


def check_access_in_sql(records, operation, base):
    """``Model._check_access`` with the record rules evaluated by PostgreSQL.

    Same rules, same result as Odoo's implementation; falls back to it for new records and
    for ids that no longer exist (which must raise MissingError as usual).
    """
    ids = records._ids
    if records.env.su or not ids or not all(isinstance(id_, int) for id_ in ids):
        return base(operation)
    if not records.env["ir.model.access"].check(records._name, operation, raise_exception=False):
        return base(operation)
    Rule = records.env["ir.rule"]
    domain = Rule._compute_domain(records._name, operation)
    if not domain:
        return None
    allowed = set(
        # sudo: the rule domain itself is the check; it is ANDed into this query.
        records.sudo()
        .with_context(active_test=False)
        ._search(expression.AND([[("id", "in", list(set(ids)))], domain]))
    )
    forbidden = records.browse([id_ for id_ in ids if id_ not in allowed])
    if not forbidden:
        return None
    if len(forbidden.exists()) != len(set(forbidden._ids)):
        return base(operation)
    # Odoo's own message names the records (their subjects, in debug mode): this one does not.
    return forbidden, functools.partial(_access_error, records.env, operation)


def _access_error(env, operation):
    if operation == "read":
        message = env._("This email is not shared with you.")
    else:
        message = env._("Emails are changed only through their actions, by those who may.")
    return AccessError(message)


def insert_created_rows(model, columns, rows):
    """INSERT ``rows`` (tuples in ``columns`` order) into ``model``'s table in one statement.

    Returns the new records, announced to the ORM as created: caches of the records pointing
    at them are invalidated by ``modified(create=True)`` and their stored computed fields are
    queued, as ``BaseModel.create`` does. The caller passes values already converted for the
    columns (e.g. HTML already sanitised).
    """
    if not rows:
        return model.browse()
    env = model.env
    by_column = list(zip(*rows, strict=True))
    types = [model._fields[name].column_type[1] for name in columns]
    arrays = SQL(", ").join(
        SQL("%s::" + column_type + "[]", list(values))
        for values, column_type in zip(by_column, types, strict=True)
    )
    names = SQL(", ").join(SQL.identifier(name) for name in columns)
    aliases = SQL(", ").join(SQL.identifier(f"c{i}") for i in range(len(columns)))
    env.cr.execute(
        SQL(
            """INSERT INTO %(table)s (%(names)s, create_uid, write_uid, create_date, write_date)
               SELECT %(aliases)s, %(uid)s, %(uid)s, %(now)s, %(now)s
               FROM unnest(%(arrays)s) AS t(%(aliases)s)
               RETURNING id""",
            table=SQL.identifier(model._table),
            names=names,
            aliases=aliases,
            uid=env.uid,
            now=env.cr.now(),
            arrays=arrays,
        )
    )
    created = model.browse([row[0] for row in env.cr.fetchall()])
    created.modified(list(columns), create=True)
    for field in model._fields.values():
        if field.store and field.compute:
            env.add_to_compute(field, created)
    return created
