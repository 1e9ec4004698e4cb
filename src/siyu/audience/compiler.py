"""A segment's definition: a JSON condition tree, validated with errors that name the path,
compiled to one SQLAlchemy Core query over the workspace's members (SQLite and PostgreSQL).

A tree is a group `{"op": "and" | "or" | "not", "conditions": [...]}` ("not": none of them
holds) whose conditions are groups again or conditions `{"kind": ..., ...}`. Each kind is a
pydantic model registered in `CONDITIONS` (`@condition("kind")`) with a `compile` that answers
a boolean SQL expression about `ctx.member` (the members' id column), built from other domains'
selectables of member ids (`member.id IN (…)`): a colleague adds a kind by registering one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from siyu.audience import errors
from siyu.audience import lifecycle_repository as lifecycle
from siyu.audience.enums import RfmCell, SegmentKind, Tier
from siyu.community import service as community
from siyu.community.enums import EnrollmentStatus
from siyu.core.clock import BEIJING
from siyu.core.errors import SiyuError
from siyu.core.params import MAX_NUMBER, MAX_ROW_ID
from siyu.entries import service as entries
from siyu.identity import service as identity
from siyu.identity.enums import ConsentPurpose, MemberStatus
from siyu.identity.schemas import CANONICAL_EVENTS
from siyu.reach import service as reach
from siyu.workspaces import service as workspaces

MAX_DEPTH = 6  # groups within groups
MAX_CONDITIONS = 100  # in a whole tree
MAX_DAYS = 3650
# Events siyu itself records beside the canonical ones (a segment may start from another's).
EXTRA_EVENTS = frozenset(
    {"segment.entered", "segment.left", "member.tier_changed", "member.level_changed"}
)
PROP_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


def _bounded(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be {low}..{high}")
        return value

    return AfterValidator(check)


Days = Annotated[int, _bounded(1, MAX_DAYS)]
Times = Annotated[int, _bounded(0, 1_000_000)]
RowId = Annotated[int, _bounded(1, MAX_ROW_ID)]
MemberNumber = Annotated[int, _bounded(1, MAX_NUMBER)]
Short = Annotated[str, Field(min_length=1, max_length=64)]


class Problem(Exception):
    """A definition's problem at a path (raised by compile-time checks, e.g. unknown apps)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path, self.message = path, message


# --- what compiling needs -------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRef:
    """What a `segment` condition needs of the segment it names."""

    id: int
    kind: SegmentKind
    definition: dict[str, Any]


@dataclass
class Context:
    session: Session
    workspace_id: int
    now: datetime
    member: ColumnElement[int]
    # The segment named by a `segment` condition (None: unknown in this workspace).
    find_segment: Callable[[int], SegmentRef | None]
    # A static segment's stored members, as a selectable of member ids.
    stored_members: Callable[[int], Select[Any]]
    # The segments being compiled, outermost first: a cycle is refused, never followed.
    stack: list[int] = field(default_factory=list)

    @property
    def dialect(self) -> str:
        bind = self.session.get_bind()
        return bind.dialect.name

    def within(self, ids: Select[Any]) -> ColumnElement[bool]:
        return self.member.in_(ids)


# --- the registry ---------------------------------------------------------------------------


class Condition(BaseModel):
    """One kind of condition; subclasses register with `@condition("kind")`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        raise NotImplementedError

    def segment_ids(self) -> set[int]:
        """The segments this condition refers to (for cycle checks)."""
        return set()


CONDITIONS: dict[str, type[Condition]] = {}


C = TypeVar("C", bound=type[Condition])


def condition(kind: str) -> Callable[[C], C]:
    """Register a condition kind (a pydantic model whose `kind` is this literal)."""

    def register(cls: C) -> C:
        if kind in CONDITIONS:
            raise ValueError(f"condition kind {kind} is registered twice")
        CONDITIONS[kind] = cls
        return cls

    return register


@dataclass(frozen=True)
class Group:
    op: Literal["and", "or", "not"]
    conditions: tuple[Node, ...]

    def walk(self) -> Iterator[Condition]:
        for child in self.conditions:
            if isinstance(child, Group):
                yield from child.walk()
            else:
                yield child


Node = Group | Condition


# --- parsing with paths ---------------------------------------------------------------------


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    text = str(error["msg"])
    return text[:1].lower() + text[1:]


def parse_definition(raw: Any) -> Group:
    """The tree, or `audience.invalid_definition` listing each problem with its path."""
    problems: list[str] = []
    counted = [0]
    group = _parse_group(raw, "", 1, problems, counted)
    if counted[0] > MAX_CONDITIONS:
        problems.append(f"at most {MAX_CONDITIONS} conditions in a segment")
    if problems or group is None:
        shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
        raise errors.INVALID_DEFINITION(shown, problem=shown, data={"problems": problems[:50]})
    return group


def _parse_group(
    raw: Any, path: str, depth: int, problems: list[str], counted: list[int]
) -> Group | None:
    where = path or "definition"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    if depth > MAX_DEPTH:
        problems.append(f"{where}: groups nest at most {MAX_DEPTH} deep")
        return None
    op = raw.get("op")
    if op not in ("and", "or", "not"):
        problems.append(f"{_join(path, 'op')}: must be one of and, or, not")
    extra = sorted(str(k) for k in raw if k not in ("op", "conditions"))
    problems.extend(f"{_join(path, k)}: unknown field" for k in extra)
    items = raw.get("conditions")
    if not isinstance(items, list) or not items:
        problems.append(f"{_join(path, 'conditions')}: must be a list of at least one condition")
        return None
    children: list[Node] = []
    for i, item in enumerate(items[: MAX_CONDITIONS + 1]):
        child_path = _join(_join(path, "conditions"), i)
        counted[0] += 1
        child: Node | None
        if isinstance(item, dict) and "op" in item:
            child = _parse_group(item, child_path, depth + 1, problems, counted)
        else:
            child = _parse_condition(item, child_path, problems)
        if child is not None:
            children.append(child)
    if problems:
        return None
    return Group(op, tuple(children))  # type: ignore[arg-type]


def _parse_condition(raw: Any, path: str, problems: list[str]) -> Condition | None:
    if not isinstance(raw, dict):
        problems.append(f"{path}: must be an object")
        return None
    kind = raw.get("kind")
    cls = CONDITIONS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(CONDITIONS))
        problems.append(f"{_join(path, 'kind')}: unknown condition kind (known: {known})")
        return None
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            where = path
            for part in error["loc"]:
                where = _join(where, part)
            problems.append(f"{where}: {_message(error)}")
        return None


# --- compiling --------------------------------------------------------------------------------


def compile_tree(ctx: Context, group: Group, path: str = "") -> ColumnElement[bool]:
    parts = [
        compile_tree(ctx, child, _join(_join(path, "conditions"), i))
        if isinstance(child, Group)
        else child.compile(ctx, _join(_join(path, "conditions"), i))
        for i, child in enumerate(group.conditions)
    ]
    if group.op == "and":
        return and_(*parts)
    if group.op == "or":
        return or_(*parts)
    return not_(or_(*parts))


def members_query(ctx: Context, group: Group) -> Select[tuple[int, int]]:
    """ONE query: the workspace's members (not merged away, not erased) the tree selects, as
    (id, number)."""
    members = identity.members_table()
    try:
        where = compile_tree(ctx, group)
    except CycleError as cycle:
        raise errors.SEGMENT_CYCLE(str(cycle), path=cycle.path) from None
    except Problem as problem:
        raise errors.INVALID_DEFINITION(str(problem), problem=str(problem)) from None
    return select(members.c.id, members.c.number).where(
        members.c.workspace_id == ctx.workspace_id,
        members.c.status == MemberStatus.active,
        members.c.erased_at.is_(None),
        where,
    )


def member_column() -> ColumnElement[int]:
    return identity.members_table().c.id


def segment_refs(group: Group) -> set[int]:
    return {ref for cond in group.walk() for ref in cond.segment_ids()}


# --- time windows -----------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BEIJING).astimezone(UTC)


class Window(BaseModel):
    """Within the last `within_days`, or between `since` and `until` (Beijing days, both
    included); neither: any time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    within_days: Days | None = None
    since: date | None = None
    until: date | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Window:
        if self.within_days is not None and (self.since or self.until):
            raise ValueError("give within_days, or since/until, not both")
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        return self

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        if self.within_days is not None:
            return now - timedelta(days=self.within_days), None
        start = _day_start(self.since) if self.since else None
        end = _day_start(self.until + timedelta(days=1)) if self.until else None
        return start, end

    def restrict(self, column: Any, now: datetime) -> list[ColumnElement[bool]]:
        start, end = self.bounds(now)
        found = []
        if start is not None:
            found.append(column >= start)
        if end is not None:
            found.append(column < end)
        return found


# --- attributes -------------------------------------------------------------------------------


@condition("number")
class NumberCondition(Condition):
    """Member number (学号) between `min` and `max`, both included."""

    kind: Literal["number"]
    min: MemberNumber | None = None
    max: MemberNumber | None = None

    @model_validator(mode="after")
    def _some(self) -> NumberCondition:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        number = identity.members_table().c.number
        parts = []
        if self.min is not None:
            parts.append(number >= self.min)
        if self.max is not None:
            parts.append(number <= self.max)
        return and_(*parts)


@condition("joined")
class JoinedCondition(Window, Condition):
    """Became a member within the last N days, or between two dates."""

    kind: Literal["joined"]

    @model_validator(mode="after")
    def _some(self) -> JoinedCondition:
        if self.within_days is None and self.since is None and self.until is None:
            raise ValueError("give within_days, or since/until")
        return self

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        return and_(*self.restrict(identity.members_table().c.created_at, ctx.now))


@condition("channel")
class ChannelCondition(Condition):
    """First (or last) channel is one of these (slugs or names)."""

    kind: Literal["channel"]
    which: Literal["first", "last"] = "first"
    channels: list[Short] = Field(min_length=1, max_length=50)

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        known = entries.list_channels(ctx.session, ctx.workspace_id)
        ids = []
        for i, ref in enumerate(self.channels):
            found = [c.id for c in known if ref in (c.slug, c.name)]
            if not found:
                raise Problem(_join(_join(path, "channels"), i), f"unknown channel {ref!r}")
            ids.extend(found)
        return ctx.within(
            entries.channel_member_ids(ctx.workspace_id, ids, first=self.which == "first")
        )


def _app_id(ctx: Context, appid: str, path: str) -> int:
    try:
        return workspaces.get_app_by_appid(ctx.session, appid, ctx.workspace_id).id
    except SiyuError:
        raise Problem(path, f"unknown app {appid!r}") from None


@condition("app_used")
class AppUsedCondition(Condition):
    """Used any of these apps (has an openid of one)."""

    kind: Literal["app_used"]
    appids: list[Short] = Field(min_length=1, max_length=20)

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        for i, appid in enumerate(self.appids):
            _app_id(ctx, appid, _join(_join(path, "appids"), i))
        return ctx.within(identity.app_user_ids(ctx.workspace_id, self.appids))


@condition("follows")
class FollowsCondition(Condition):
    """Follows the Official Account `appid` now (any of the workspace's without one)."""

    kind: Literal["follows"]
    appid: Short | None = None

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        app_id = _app_id(ctx, self.appid, _join(path, "appid")) if self.appid else None
        return ctx.within(reach.follower_ids(ctx.workspace_id, app_id))


@condition("phone_bound")
class PhoneBoundCondition(Condition):
    kind: Literal["phone_bound"]
    value: bool = True

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        bound = ctx.within(identity.phone_bound_ids(ctx.workspace_id))
        return bound if self.value else not_(bound)


@condition("tier")
class TierCondition(Condition):
    """In a lifecycle tier now (as of the last move: nightly, or at once on activity)."""

    kind: Literal["tier"]
    tiers: list[Tier] = Field(min_length=1, max_length=len(Tier))

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        return ctx.within(lifecycle.tier_member_ids(ctx.workspace_id, self.tiers))


@condition("rfm")
class RfmCondition(Condition):
    """In an RFM cell (重要价值, …) as of the nightly computation."""

    kind: Literal["rfm"]
    cells: list[RfmCell] = Field(min_length=1, max_length=len(RfmCell))

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        return ctx.within(lifecycle.rfm_member_ids(ctx.workspace_id, self.cells))


@condition("consent")
class ConsentCondition(Condition):
    """The member's consent for `purpose` stands (granted, not withdrawn); `value: false`
    for those without it."""

    kind: Literal["consent"]
    purpose: ConsentPurpose
    value: bool = True

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        given = ctx.within(identity.consenting_ids(ctx.workspace_id, self.purpose))
        return given if self.value else not_(given)


# --- tags -------------------------------------------------------------------------------------


@condition("tags")
class TagsCondition(Condition):
    """Has any / all / none of these tags."""

    kind: Literal["tags"]
    match: Literal["any", "all", "none"] = "any"
    tags: list[Annotated[str, Field(min_length=1, max_length=identity.TAG_MAX)]] = Field(
        min_length=1, max_length=50
    )

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        tags = [t.strip() for t in self.tags]
        has = ctx.within(
            identity.tagged_member_ids(ctx.workspace_id, tags, every=self.match == "all")
        )
        return not_(has) if self.match == "none" else has


# --- behaviour --------------------------------------------------------------------------------

Scalar = Annotated[str, Field(max_length=200)] | float | bool


class PropFilter(BaseModel):
    """`props[prop] <op> value`: numbers compare as numbers, text as text, true/false with =."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    prop: str = Field(pattern=PROP_NAME)
    op: Literal["=", "!=", ">", ">=", "<", "<=", "in"] = "="
    value: Scalar | list[Annotated[str, Field(max_length=200)] | float] = Field(
        union_mode="left_to_right"
    )

    @model_validator(mode="after")
    def _fits(self) -> PropFilter:
        if self.op == "in":
            if not isinstance(self.value, list) or not 1 <= len(self.value) <= 50:
                raise ValueError("`in` takes a list of 1..50 values")
        elif isinstance(self.value, list):
            raise ValueError(f"`{self.op}` takes one value, not a list")
        elif isinstance(self.value, bool) and self.op not in ("=", "!="):
            raise ValueError("true/false compare with = or != only")
        return self

    def compile(self, ctx: Context, props: Any) -> ColumnElement[bool]:
        values = self.value if isinstance(self.value, list) else [self.value]
        if all(isinstance(v, bool) for v in values):
            text = _prop_kind(ctx, props, self.prop, "boolean")
            wanted = "true" if values[0] else "false"
            return text == wanted if self.op == "=" else text != wanted
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        column: ColumnElement[Any] = _prop_kind(
            ctx, props, self.prop, "number" if numeric else "string"
        )
        if numeric:
            column = cast(column, Float)
        if self.op == "in":
            return column.in_(values)
        value = values[0]
        return {
            "=": column == value,
            "!=": column != value,
            ">": column > value,
            ">=": column >= value,
            "<": column < value,
            "<=": column <= value,
        }[self.op]


def _prop_kind(ctx: Context, props: Any, name: str, kind: str) -> ColumnElement[Any]:
    """The prop's value as text where its JSON type is `kind`, else NULL (never a cast of a
    string to a number, which PostgreSQL would refuse mid-query)."""
    if ctx.dialect == "postgresql":
        typeof = func.jsonb_typeof(props.op("->")(name))
        return case((typeof == kind, props.op("->>")(name)), else_=None)
    path = f'$."{name}"'
    sqlite_kinds = {
        "number": ("integer", "real"),
        "string": ("text",),
        "boolean": ("true", "false"),
    }
    typeof = func.json_type(props, path)
    value = func.json_extract(props, path)
    if kind == "boolean":
        value = typeof  # 'true' / 'false'
    return case((typeof.in_(sqlite_kinds[kind]), value), else_=None)


def _event_name(name: str) -> str:
    if name not in CANONICAL_EVENTS and name not in EXTRA_EVENTS:
        raise ValueError(f"unknown event {name!r}")
    return name


EventName = Annotated[str, Field(max_length=64), AfterValidator(_event_name)]


class EventMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    event: EventName
    where: list[PropFilter] = Field(default_factory=list, max_length=10)

    def filters(self, ctx: Context, events: FromClause) -> list[ColumnElement[bool]]:
        return [
            events.c.workspace_id == ctx.workspace_id,
            events.c.name == self.event,
            *(f.compile(ctx, events.c.props) for f in self.where),
        ]


@condition("event")
class EventCondition(Window, EventMatch, Condition):
    """Did `event` (matching `where`) at least `min_count` and at most `max_count` times,
    within the window."""

    kind: Literal["event"]
    min_count: Times = 1
    max_count: Times | None = None

    @model_validator(mode="after")
    def _counts(self) -> EventCondition:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError("max_count must not be below min_count")
        return self

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        events = identity.events_table()
        query = select(events.c.member_id).where(
            *self.filters(ctx, events), *self.restrict(events.c.ts, ctx.now)
        )
        if self.min_count == 0:
            if self.max_count is None:
                return true()
            # At most N, zero included: not among those who did it more often.
            too_many = query.group_by(events.c.member_id).having(func.count() > self.max_count)
            return not_(ctx.within(too_many))
        if self.min_count > 1 or self.max_count is not None:
            query = query.group_by(events.c.member_id).having(func.count() >= self.min_count)
            if self.max_count is not None:
                query = query.having(func.count() <= self.max_count)
        return ctx.within(query)


@condition("sequence")
class SequenceCondition(Window, Condition):
    """Did `first` (within the window) and not `then_not` at any time after it."""

    kind: Literal["sequence"]
    first: EventMatch
    then_not: EventMatch

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        a = identity.events_table().alias("seq_a")
        b = identity.events_table().alias("seq_b")
        later = (
            select(literal(1))
            .where(*self.then_not.filters(ctx, b), b.c.member_id == a.c.member_id, b.c.ts > a.c.ts)
            .exists()
        )
        query = select(a.c.member_id).where(
            *self.first.filters(ctx, a), *self.restrict(a.c.ts, ctx.now), not_(later)
        )
        return ctx.within(query)


# --- community --------------------------------------------------------------------------------

_STATUSES = {
    "enrolled": (
        EnrollmentStatus.enrolled,
        EnrollmentStatus.completed,
        EnrollmentStatus.failed,
        EnrollmentStatus.refunded,
    ),
    "completed": (EnrollmentStatus.completed,),
    "failed": (EnrollmentStatus.failed,),
}


@condition("community")
class CommunityCondition(Condition):
    """Enrolled in (paid for), completed or failed the activity `activity_id`, any activity of
    the series `series_id`, or (neither) any activity."""

    kind: Literal["community"]
    status: Literal["enrolled", "completed", "failed"] = "enrolled"
    activity_id: RowId | None = None
    series_id: RowId | None = None

    @model_validator(mode="after")
    def _one(self) -> CommunityCondition:
        if self.activity_id is not None and self.series_id is not None:
            raise ValueError("give activity_id or series_id, not both")
        return self

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        try:
            if self.activity_id is not None:
                community.get_activity(ctx.session, ctx.workspace_id, self.activity_id)
            if self.series_id is not None:
                community.get_series(ctx.session, ctx.workspace_id, self.series_id)
        except SiyuError:
            field_name = "activity_id" if self.activity_id is not None else "series_id"
            raise Problem(_join(path, field_name), "unknown in this workspace") from None
        return ctx.within(
            community.enrolled_member_ids(
                ctx.workspace_id,
                _STATUSES[self.status],
                activity_id=self.activity_id,
                series_id=self.series_id,
            )
        )


# --- reach state ------------------------------------------------------------------------------


@condition("reachable")
class ReachableCondition(Condition):
    """Reachable now: the customer-service window is open (`cs_window`), a one-time subscribe
    credit for the notice `template` is unused (`subscribe_credit`), or follows (`follows`)."""

    kind: Literal["reachable"]
    via: Literal["cs_window", "subscribe_credit", "follows"]
    appid: Short | None = None
    template: Short | None = None

    @model_validator(mode="after")
    def _template(self) -> ReachableCondition:
        if (self.via == "subscribe_credit") != (self.template is not None):
            raise ValueError("template is given with subscribe_credit, and only then")
        return self

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        app_id = _app_id(ctx, self.appid, _join(path, "appid")) if self.appid else None
        if self.via == "cs_window":
            return ctx.within(reach.window_open_ids(ctx.workspace_id, ctx.now, app_id))
        if self.via == "follows":
            return ctx.within(reach.follower_ids(ctx.workspace_id, app_id))
        template_ids = [
            t.template_id
            for t in reach.list_templates(ctx.session, ctx.workspace_id)
            if t.key == self.template and t.kind == "mp_subscribe"
        ]
        if not template_ids:
            raise Problem(_join(path, "template"), f"no subscribe notice {self.template!r}")
        return or_(*(ctx.within(reach.credit_ids(t, app_id)) for t in template_ids))


# --- other segments ---------------------------------------------------------------------------


@condition("segment")
class SegmentCondition(Condition):
    """In (or, `value: false`, not in) another segment: a dynamic one by its definition, a
    static one by its snapshot."""

    kind: Literal["segment"]
    segment_id: RowId
    value: bool = True

    def segment_ids(self) -> set[int]:
        return {self.segment_id}

    def compile(self, ctx: Context, path: str) -> ColumnElement[bool]:
        where = _join(path, "segment_id")
        if self.segment_id in ctx.stack:
            raise CycleError(where)
        ref = ctx.find_segment(self.segment_id)
        if ref is None:
            raise Problem(where, "unknown segment")
        if ref.kind == SegmentKind.static:
            inside = ctx.within(ctx.stored_members(ref.id))
        else:
            tree = parse_definition(ref.definition)
            ctx.stack.append(ref.id)
            try:
                inside = compile_tree(ctx, tree, path)
            finally:
                ctx.stack.pop()
        return inside if self.value else not_(inside)


class CycleError(Problem):
    def __init__(self, path: str) -> None:
        super().__init__(path, "segments refer to each other in a cycle")
