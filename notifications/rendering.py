"""Notification text from staff-edited templates: validation, rendering, preview.

Templates are edited in the admin, so they are untrusted text. They are compiled
by a dedicated Engine that knows only a few harmless tags and filters, no loaders
and no libraries, and may reference only the variables the catalog declares for
their type, by bare name. Output is plain text (the browser inserts it with
textContent), so nothing is HTML-escaped here.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache

from django.core.exceptions import ValidationError
from django.template import Context, Engine, Library, Template, TemplateSyntaxError
from django.template.base import FilterExpression, Lexer, NodeList, TextNode, TokenType, VariableNode
from django.template.defaultfilters import register as default_filters
from django.template.defaulttags import FirstOfNode, ForNode, IfNode, TemplateLiteral, WithNode
from django.template.defaulttags import register as default_tags
from django.utils.functional import Promise

from jobs.compiled import CompiledQuery

from .catalog import CATALOG, DIGEST_DEFAULTS, DIGEST_ITEM_FIELDS, digest_sample_context, digest_variables, sample_context
from .models import DigestTemplate, NotificationTemplate

logger = logging.getLogger(__name__)

TITLE_MAX_LENGTH = 200
MESSAGE_MAX_LENGTH = 2000
# The model's limits on the template source.
TITLE_TEMPLATE_MAX_LENGTH = 300
MESSAGE_TEMPLATE_MAX_LENGTH = 4000

ALLOWED_TAGS = ("if", "for", "with", "firstof")
# The closing and branch words the allowed tags parse themselves.
_ALLOWED_BLOCK_WORDS = frozenset(ALLOWED_TAGS) | {"elif", "else", "endif", "empty", "endfor", "endwith"}

# None of these can grow their input by more than a small constant factor.
# Left out on purpose: join and add (chained through {% with %} they grow the text
# exponentially), floatformat, stringformat, ljust/rjust/center (a huge width
# argument is a denial of service), date/time (the context holds no dates),
# safe/escape/linebreaks and friends (HTML concerns; this is plain text).
ALLOWED_FILTERS = (
    "capfirst",
    "cut",
    "default",
    "default_if_none",
    "first",
    "last",
    "length",
    "lower",
    "pluralize",
    "slice",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "yesno",
)

# Attributes of the loop variable a template may use inside {% for %}.
_FORLOOP_ATTRIBUTES = frozenset({"counter", "counter0", "revcounter", "revcounter0", "first", "last"})

_PLAIN_SCALARS = (str, int, float, Decimal, bool, type(None))

# The only template library our engines know (Engine takes builtins as module paths).
register = Library()
register.tags = {name: default_tags.tags[name] for name in ALLOWED_TAGS}
register.filters = {name: default_filters.filters[name] for name in ALLOWED_FILTERS}


@dataclass(frozen=True)
class Vocabulary:
    """What a template may name: its bare variables, and `item.<field>` inside {% for item in items %}."""

    label: str  # a notification type or "<kind> digest", for the messages
    variables: tuple[str, ...]
    item_fields: tuple[str, ...] = ()


def _type_vocabulary(notification_type: str) -> Vocabulary:
    return Vocabulary(notification_type, CATALOG[notification_type].variables)


def _digest_vocabulary(kind: str) -> Vocabulary:
    return Vocabulary(f"{kind} digest", digest_variables(kind), DIGEST_ITEM_FIELDS)


@dataclass(frozen=True)
class RenderedText:
    title: str
    message: str
    priority: str


def _engine(*builtins: str) -> Engine:
    return Engine(
        dirs=[],
        app_dirs=False,
        loaders=[],  # no {% include %}/{% extends %} target can ever be found
        libraries={},  # nothing to {% load %}
        builtins=list(builtins),
        autoescape=False,
        string_if_invalid="",
        debug=False,
    )


@cache
def _render_engine() -> Engine:
    return _engine(__name__)


@cache
def _validation_engine() -> Engine:
    # Also knows Django's other filters so that using one is reported by name
    # ("Filter 'safe' is not allowed") rather than as a syntax error.
    return _engine(__name__, "django.template.defaultfilters")


# --- validation -----------------------------------------------------------------


def template_validate(
    *,
    notification_type: str,
    title_template: str,
    message_template: str,
    email_subject_template: str = "",
    email_body_template: str = "",
) -> None:
    """Raise ValidationError with per-field messages unless every template is safe to render.

    The email ones may be blank (the email then says the notification's title and message).
    """
    if notification_type not in CATALOG:
        raise ValidationError({"notification_type": [f"Unknown notification type '{notification_type}'."]})
    errors = {}
    for field, source, max_length in (
        ("title_template", title_template, TITLE_TEMPLATE_MAX_LENGTH),
        ("message_template", message_template, MESSAGE_TEMPLATE_MAX_LENGTH),
        ("email_subject_template", email_subject_template, TITLE_TEMPLATE_MAX_LENGTH),
        ("email_body_template", email_body_template, MESSAGE_TEMPLATE_MAX_LENGTH),
    ):
        problems = _source_problems(_type_vocabulary(notification_type), source, max_length)
        if problems:
            errors[field] = problems
    if errors:
        raise ValidationError(errors)


def _source_problems(vocabulary: Vocabulary, source: str, max_length: int) -> list[str]:
    if len(source) > max_length:
        return [f"Too long: {len(source)} characters, at most {max_length}."]
    problems = _tag_problems(source)
    if problems:
        return problems
    try:
        template = _validation_engine().from_string(source)
    except TemplateSyntaxError as exc:
        return [f"Template syntax error: {exc}"]
    return _unique(_nodelist_problems(template.nodelist, vocabulary, names=frozenset(), in_loop=False))


def _tag_problems(source: str) -> list[str]:
    """Refuse every tag outside the allow-list by name, before anything compiles it."""
    problems, refused = [], set()
    for token in Lexer(source).tokenize():
        if token.token_type != TokenType.BLOCK or not token.contents.split():
            continue
        command = token.contents.split()[0]
        if command.startswith("end") and command[3:] in refused:
            continue  # its opening tag is already reported
        if command not in _ALLOWED_BLOCK_WORDS:
            refused.add(command)
            problems.append(f"Tag '{command}' is not allowed; allowed tags: {', '.join(ALLOWED_TAGS)}.")
    return _unique(problems)


def _nodelist_problems(
    nodelist: NodeList, vocabulary: Vocabulary, *, names: frozenset, in_loop: bool, item_names: frozenset = frozenset()
) -> list[str]:
    """Walk the compiled template; `names` are the variables bound by enclosing for/with,
    `item_names` the loop variable of {% for item in items %} (whose fields may be named)."""
    problems = []
    for node in nodelist:
        if isinstance(node, TextNode):
            continue
        if isinstance(node, VariableNode):
            problems += _expression_problems(node.filter_expression, vocabulary, names, in_loop, item_names)
        elif isinstance(node, IfNode):
            for condition, branch in node.conditions_nodelists:
                for expression in _condition_expressions(condition):
                    problems += _expression_problems(expression, vocabulary, names, in_loop, item_names)
                problems += _nodelist_problems(branch, vocabulary, names=names, in_loop=in_loop, item_names=item_names)
        elif isinstance(node, ForNode):
            if in_loop:
                # One level only: nested loops multiply the output size.
                problems.append("Nested {% for %} loops are not allowed.")
                continue
            problems += _expression_problems(node.sequence, vocabulary, names, in_loop)
            loop_names = names | set(node.loopvars)
            over_items = vocabulary.item_fields and getattr(node.sequence.var, "lookups", None) == ("items",)
            loop_items = frozenset(node.loopvars) if over_items and len(node.loopvars) == 1 and not node.sequence.filters else frozenset()
            problems += _nodelist_problems(node.nodelist_loop, vocabulary, names=loop_names, in_loop=True, item_names=loop_items)
            problems += _nodelist_problems(node.nodelist_empty, vocabulary, names=names, in_loop=in_loop, item_names=item_names)
        elif isinstance(node, WithNode):
            for expression in node.extra_context.values():
                problems += _expression_problems(expression, vocabulary, names, in_loop, item_names)
            inner = names | set(node.extra_context)
            problems += _nodelist_problems(node.nodelist, vocabulary, names=inner, in_loop=in_loop, item_names=item_names)
        elif isinstance(node, FirstOfNode):
            for expression in node.vars:
                problems += _expression_problems(expression, vocabulary, names, in_loop, item_names)
            if node.asvar:
                # "{% firstof a b as x %}" binds x for the rest of this block.
                names = names | {node.asvar}
        else:  # unreachable with the allowed tags; refuse rather than trust
            problems.append(f"Unsupported template construct: {node.__class__.__name__}.")
    return problems


def _condition_expressions(condition):
    """The FilterExpressions inside an {% if %} condition tree (None for {% else %})."""
    if condition is None:
        return
    if isinstance(condition, TemplateLiteral):
        yield condition.value
        return
    yield from _condition_expressions(getattr(condition, "first", None))
    yield from _condition_expressions(getattr(condition, "second", None))


def _expression_problems(
    expression: FilterExpression, vocabulary: Vocabulary, names: frozenset, in_loop: bool, item_names: frozenset = frozenset()
):
    problems = []
    variables = [expression.var] + [arg for filter_, args in expression.filters for is_lookup, arg in args if is_lookup]
    for variable in variables:
        problems += _variable_problems(variable, vocabulary, names, in_loop, item_names)
    for filter_func, _args in expression.filters:
        name = getattr(filter_func, "_filter_name", filter_func.__name__)
        if name not in ALLOWED_FILTERS:
            problems.append(f"Filter '{name}' is not allowed; allowed filters: {', '.join(ALLOWED_FILTERS)}.")
    return problems


def _variable_problems(variable, vocabulary: Vocabulary, names: frozenset, in_loop: bool, item_names: frozenset = frozenset()) -> list[str]:
    lookups = getattr(variable, "lookups", None)
    if lookups is None:  # a literal: "text", 3, _("text")
        return []
    if in_loop and len(lookups) == 2 and lookups[0] == "forloop" and lookups[1] in _FORLOOP_ATTRIBUTES:
        return []
    dotted = ".".join(lookups)
    if len(lookups) == 2 and lookups[0] in item_names:
        if lookups[1] in vocabulary.item_fields:
            return []
        return [f"Unknown field '{dotted}'; an item has: {', '.join(vocabulary.item_fields)}."]
    if len(lookups) > 1:
        return [f"Attribute or index access is not allowed: '{dotted}'; use a bare variable name."]
    if dotted in names or dotted in vocabulary.variables:
        return []
    available = ", ".join(vocabulary.variables)
    return [f"Unknown variable '{dotted}' for {vocabulary.label}; available: {available}."]


def _unique(messages: list[str]) -> list[str]:
    return list(dict.fromkeys(messages))


# --- rendering ------------------------------------------------------------------


# Read for every event, and building it cost more CPU than running it: compiled once per
# process (jobs/compiled.py). At most one active per type (a unique index): unordered.
_active_template_read = CompiledQuery(
    lambda values: NotificationTemplate.objects.filter(notification_type=values["notification_type"], is_active=True).order_by()
)


def active_template_read_prepare() -> None:
    """Compile and prepare the template read before the first event (project/warmup.py)."""
    _active_template_read.prepare({"notification_type": str(next(iter(CATALOG)))})


def template_render(*, notification_type: str, context: dict) -> RenderedText:
    """Title, message and priority for one context, from the active template.

    One query. Never fails for want of a template: without an active one (or if
    it cannot render) the catalog's built-in text is used.
    """
    entry = CATALOG[notification_type]
    plain = _plain_context(context)
    stored = _active_template_read.first({"notification_type": str(notification_type)})
    if stored is None:
        logger.warning("No active template for %s; using the built-in default.", notification_type)
    else:
        try:
            return _render(
                notification_type, stored.title_template, stored.message_template, stored.default_priority, plain
            )
        except Exception:
            # It was validated on save, so this is a bug or a hand-edited row: keep notifying.
            logger.exception(
                "Template %r (id %s) for %s failed to render; using the built-in default.",
                stored.name,
                stored.pk,
                notification_type,
            )
    return _render(notification_type, entry.title, entry.message, entry.priority, plain)


def template_preview(*, notification_type: str, title_template: str, message_template: str) -> RenderedText:
    """Render unsaved template text with the catalog's sample values; invalid text raises ValidationError."""
    template_validate(
        notification_type=notification_type, title_template=title_template, message_template=message_template
    )
    priority = CATALOG[notification_type].priority
    context = sample_context(notification_type)
    return _render(notification_type, title_template, message_template, priority, context)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


def active_template(notification_type: str) -> NotificationTemplate | None:
    return NotificationTemplate.objects.filter(notification_type=notification_type, is_active=True).first()


def email_render(
    *, notification_type: str, context: dict | None, title: str, message: str, stored: NotificationTemplate | None
) -> RenderedEmail:
    """An email's subject and plain-text body from the active template's (`stored`, see active_template) email fields.

    A blank field, no context (the event's world is gone) or a template that fails says
    the notification's own title and message: an email is never held back for its wording.
    """
    subject_source = stored.email_subject_template if stored else ""
    body_source = stored.email_body_template if stored else ""
    return _email_from_sources(notification_type, subject_source, body_source, context, title, message)


def email_preview(*, notification_type: str, email_subject_template: str, email_body_template: str) -> RenderedEmail:
    """Render unsaved email templates with the catalog's sample values (blank: the sample notification's text)."""
    template_validate(
        notification_type=notification_type, title_template="", message_template="",
        email_subject_template=email_subject_template, email_body_template=email_body_template,
    )
    entry = CATALOG[notification_type]
    context = sample_context(notification_type)
    sample = _render(notification_type, entry.title, entry.message, entry.priority, context)
    return _email_from_sources(notification_type, email_subject_template, email_body_template, context, sample.title, sample.message)


def _email_from_sources(notification_type, subject_source, body_source, context, title, message) -> RenderedEmail:
    subject, body = title, message
    if context is not None:
        plain = _plain_context(context)
        try:
            if subject_source.strip():
                subject = " ".join(_render_checked(notification_type, subject_source, plain).split())
            if body_source.strip():
                body = _render_checked(notification_type, body_source, plain).strip()
        except Exception:
            logger.exception("Email template for %s failed to render; using the notification's text.", notification_type)
            subject, body = title, message
    return RenderedEmail(subject=_truncate(subject, TITLE_MAX_LENGTH), body=_truncate(body, MESSAGE_MAX_LENGTH))


# --- digests: one email or push for several notifications (notifications/channels/digests.py) ----

DIGEST_TEMPLATE_FIELDS = (
    ("email_subject_template", TITLE_TEMPLATE_MAX_LENGTH),
    ("email_body_template", MESSAGE_TEMPLATE_MAX_LENGTH),
    ("push_title_template", TITLE_TEMPLATE_MAX_LENGTH),
    ("push_body_template", MESSAGE_TEMPLATE_MAX_LENGTH),
)


@dataclass(frozen=True)
class RenderedDigest:
    email_subject: str
    email_body: str
    push_title: str
    push_body: str


def digest_template_validate(*, kind: str, **sources: str) -> None:
    """Raise ValidationError with per-field messages unless each of the four sources is given and safe to render."""
    if kind not in DIGEST_DEFAULTS:
        raise ValidationError({"kind": [f"Unknown digest kind '{kind}'."]})
    errors = {}
    for field, max_length in DIGEST_TEMPLATE_FIELDS:
        source = sources.get(field) or ""
        problems = ["This field is required."] if not source.strip() else _source_problems(_digest_vocabulary(kind), source, max_length)
        if problems:
            errors[field] = problems
    if errors:
        raise ValidationError(errors)


def active_digest_template(kind: str) -> DigestTemplate | None:
    return DigestTemplate.objects.filter(kind=kind).first()


def digest_render(*, kind: str, context: dict, stored: DigestTemplate | None) -> RenderedDigest:
    """A digest's texts from staff's template (`stored`), or the catalog's when there is none or it fails."""
    plain = _plain_context(context)
    if stored is not None:
        try:
            return _digest_from_sources(kind, {field: getattr(stored, field) for field, _ in DIGEST_TEMPLATE_FIELDS}, plain)
        except Exception:
            logger.exception("Digest template for %s failed to render; using the built-in one.", kind)
    return _digest_from_sources(kind, _digest_default_sources(kind), plain)


def digest_preview(*, kind: str, **sources: str) -> RenderedDigest:
    """Render unsaved digest templates with the catalog's sample values; invalid text raises ValidationError."""
    digest_template_validate(kind=kind, **sources)
    return _digest_from_sources(kind, sources, digest_sample_context(kind))


def digest_default_sources(kind: str) -> dict[str, str]:
    """The catalog's text of a kind, by template field (an admin's starting point)."""
    return _digest_default_sources(kind)


def _digest_default_sources(kind: str) -> dict[str, str]:
    defaults = DIGEST_DEFAULTS[kind]
    return {
        "email_subject_template": defaults.email_subject,
        "email_body_template": defaults.email_body,
        "push_title_template": defaults.push_title,
        "push_body_template": defaults.push_body,
    }


def _digest_from_sources(kind: str, sources: dict[str, str], context: dict) -> RenderedDigest:
    vocabulary = _digest_vocabulary(kind)

    def line(field):  # a subject or title is one line
        return _truncate(" ".join(_render_vocabulary(vocabulary, sources[field], context).split()), TITLE_MAX_LENGTH)

    def text(field):
        return _truncate(_render_vocabulary(vocabulary, sources[field], context).strip(), MESSAGE_MAX_LENGTH)

    return RenderedDigest(
        email_subject=line("email_subject_template"),
        email_body=text("email_body_template"),
        push_title=line("push_title_template"),
        push_body=text("push_body_template"),
    )


def _render(
    notification_type: str, title_source: str, message_source: str, priority: str, context: dict
) -> RenderedText:
    title = _render_checked(notification_type, title_source, context)
    message = _render_checked(notification_type, message_source, context)
    # A title is one line; stray newlines come from {% if %} blocks.
    title = " ".join(title.split())
    return RenderedText(
        title=_truncate(title, TITLE_MAX_LENGTH),
        message=_truncate(message.strip(), MESSAGE_MAX_LENGTH),
        priority=str(priority),
    )


def _render_checked(notification_type: str, source: str, context: dict) -> str:
    return _render_vocabulary(_type_vocabulary(notification_type), source, context)


def _render_vocabulary(vocabulary: Vocabulary, source: str, context: dict) -> str:
    # Context() escapes by default whatever the engine says; this is plain text.
    return _checked_template(vocabulary, source).render(Context(context, autoescape=False))


@lru_cache(maxsize=256)
def _checked_template(vocabulary: Vocabulary, source: str) -> Template:
    """Compile with the restricted engine and walk it again, once per distinct source.

    Stored rows may not have come through the admin form (shell, fixtures).
    """
    if len(source) > MESSAGE_TEMPLATE_MAX_LENGTH:
        raise ValueError(f"Template too long: {len(source)} characters.")
    template = _render_engine().from_string(source)
    problems = _nodelist_problems(template.nodelist, vocabulary, names=frozenset(), in_loop=False)
    if problems:
        raise ValueError("; ".join(_unique(problems)))
    return template


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain_context(context: dict) -> dict:
    """Only plain values reach a template: no model instance, no callable, nothing to walk into."""
    if not isinstance(context, dict):
        raise TypeError(f"Notification context must be a dict, not {type(context).__name__}.")
    plain = {}
    for key, value in context.items():
        if not isinstance(key, str):
            raise TypeError(f"Notification context keys must be strings, not {type(key).__name__}.")
        if isinstance(value, (list, tuple)):
            plain[key] = [_plain_item(key, item) if isinstance(item, dict) else _plain_scalar(key, item) for item in value]
        else:
            plain[key] = _plain_scalar(key, value)
    return plain


def _plain_item(key: str, item: dict) -> dict:
    """A digest's item: a flat dict of plain values (title, message, link)."""
    return {str(name): _plain_scalar(f"{key}.{name}", value) for name, value in item.items()}


def _plain_scalar(key: str, value):
    if isinstance(value, Promise):  # a lazy translation is a string waiting to happen
        return str(value)
    if isinstance(value, _PLAIN_SCALARS):
        return value
    raise TypeError(
        f"Notification context value {key!r} is a {type(value).__name__}; "
        "only str, int, float, Decimal, bool, None and lists of them are allowed."
    )
