"""Every field shown on the addon's screens has a label someone chose.

Odoo makes a label from the field name when none is given ("Link Reason", "Spf Status"),
which reads as a programmer's word. This test reads every view of the addons of this
repository (inherited ones included), collects the fields they show, and fails listing each
one that has no explicit label.

What counts as a label:
- ``string`` given where the field is declared (first positional argument or ``string=``),
  in any of its definitions;
- for a related field without one, the label of the field it follows (Odoo copies it);
- ``string`` on the ``<field>`` node in the view, or a ``<label for="...">`` with a
  ``string``, in that same view.
Fields declared only by Odoo itself (create_date, name of res.users...) are Odoo's labels
and are not checked; always-invisible fields (invisible="1") are not shown, so not checked.
"""

from lxml import etree
from odoo.tests import TransactionCase, tagged
from odoo.tools.template_inheritance import locate_node

# The addons of this repository whose views and fields are checked when installed.
OUR_ADDONS = (
    "crm_mail_channel",
    "crm_mail_channel_hr",
    "crm_mail_channel_google",
    "crm_mail_channel_microsoft",
)
SUBVIEWS = ("list", "tree", "form", "kanban")
ALWAYS = ("1", "True", "true")


def _definition_args(field):
    # Odoo 18.0 keeps a field's constructor arguments in ``args``; later 18 builds call it
    # ``_args__``.
    return getattr(field, "args", None) or getattr(field, "_args__", None) or {}


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestViewLabels(TransactionCase):
    def _addons(self):
        installed = self.env["ir.module.module"].search(
            [("name", "in", OUR_ADDONS), ("state", "=", "installed")]
        )
        return installed.mapped("name")

    # ------------------------------------------------------------------ declarations
    def _declared_label(self, model_name, name, seen=None):
        """True when the field has an explicit label (see the module docstring)."""
        Model = self.env[model_name]
        field = Model._fields[name]
        for klass in type(Model).__mro__:
            for definition in vars(klass).get("_field_definitions", ()):
                if definition.name == name and _definition_args(definition).get("string"):
                    return True
        if field.related:
            seen = seen or set()
            if (model_name, name) in seen:
                return False
            seen.add((model_name, name))
            target = field.related_field
            return self._declared_label(target.model_name, target.name, seen)
        return False

    def _ours(self, model_name, name, addons):
        field = self.env[model_name]._fields[name]
        return bool(set(getattr(field, "_modules", ()) or (field._module,)) & set(addons))

    # ------------------------------------------------------------------ views
    def _model_at(self, node, model_name):
        """The model whose fields sit directly inside ``node`` (x2many subviews switch)."""
        path = [*reversed(list(node.iterancestors())), node]
        for element in path:
            parent = element.getparent()
            if element.tag in SUBVIEWS and parent is not None and parent.tag == "field":
                field = self.env[model_name]._fields.get(parent.get("name"))
                if field is not None and field.relational:
                    model_name = field.comodel_name
        return model_name

    def _shown_fields(self, node, model_name, out):
        """(model, field name, node) for each field shown under ``node``."""
        for child in node:
            if not isinstance(child.tag, str):
                continue
            if child.tag == "field":
                hidden = child.get("invisible") in ALWAYS or child.get("column_invisible") in ALWAYS
                if not hidden:
                    out.append((model_name, child.get("name"), child))
                field = self.env[model_name]._fields.get(child.get("name"))
                for sub in child:
                    if sub.tag in SUBVIEWS and field is not None and field.relational:
                        self._shown_fields(sub, field.comodel_name, out)
                continue
            self._shown_fields(child, model_name, out)
        return out

    def _view_fields(self, view):
        """Fields a view of ours shows: its whole arch, or what it adds to its parent."""
        arch = etree.fromstring(view.arch_db)
        if not view.inherit_id:
            return self._shown_fields(_wrap(arch), view.model, [])
        combined = view._get_combined_arch()
        shown = []
        specs = [arch] if arch.tag != "data" else list(arch)
        for spec in specs:
            if not isinstance(spec.tag, str):
                continue
            position = spec.get("position", "inside")
            if position == "attributes":
                continue
            target = locate_node(combined, spec)
            if target is None:
                continue
            anchor = target if position == "inside" else target.getparent()
            model_name = self._model_at(anchor, view.model) if anchor is not None else view.model
            self._shown_fields(spec, model_name, shown)
        return shown

    def test_every_shown_field_has_a_label(self):
        addons = self._addons()
        views = (
            self.env["ir.ui.view"]
            .with_context(active_test=False)
            .search(
                [
                    ("model_data_id.module", "in", addons),
                    ("type", "in", ("form", "list", "search", "kanban")),
                ]
            )
        )
        self.assertTrue(views)
        offenders = set()
        checked = set()
        for view in views:
            arch = etree.fromstring(view.arch_db)
            labelled = {label.get("for") for label in arch.iter("label") if label.get("string")}
            for model_name, name, node in self._view_fields(view):
                if model_name not in self.env or name not in self.env[model_name]._fields:
                    offenders.add((model_name, name, f"unknown field in {view.xml_id}"))
                    continue
                if node.get("string") or name in labelled:
                    continue
                if not self._ours(model_name, name, addons):
                    continue
                checked.add((model_name, name))
                if not self._declared_label(model_name, name):
                    offenders.add((model_name, name, view.xml_id))
        # The walk itself works: it finds the addon's own fields on its own screens.
        self.assertIn(("crm.mailbox", "host"), checked)
        self.assertIn(("res.config.settings", "crm_email_excluded_domains"), checked)
        self.assertIn(("crm.mailbox.quarantine", "reason"), checked)  # an x2many list
        lines = sorted(f"{model}.{name} (shown in {where})" for model, name, where in offenders)
        if lines:
            self.fail(
                f"{len(lines)} fields shown on the addon's screens have no explicit label; give "
                "each a string where it is declared (or in the view):\n" + "\n".join(lines)
            )


def _wrap(arch):
    """A parent for the root node, so that the walk sees the root's own children."""
    wrapper = etree.Element("wrapper")
    wrapper.append(arch)
    return wrapper
