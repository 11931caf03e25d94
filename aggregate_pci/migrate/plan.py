"""The migration plan: what to create, add and set.  Pure: no I/O.

Inputs are the source's flavors, a target choice (``Targets``, from
``target_choice``) and the aggregates as they are now.  The output lists every change and every
problem; nothing is applied while ``MigrationPlan.blocked`` is true, so all
conflicts are reported before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Collection, Iterable, Mapping, Sequence

from aggregate_pci import codec
from aggregate_pci.admin.models import Aggregate, MetadataChange
from aggregate_pci.alias import Refused
from aggregate_pci.errors import Hint, Speller, neutral_command
from aggregate_pci.migrate.model import SourceFlavor
from aggregate_pci.migrate.target_choice import Targets

#: Nova's default ``[oslo_middleware] max_request_body_size`` (HTTP 413
#: above it), and what one ``set_metadata`` call may use of it.
MAX_REQUEST_BODY = 114688
BODY_BUDGET = MAX_REQUEST_BODY - 2048


@dataclasses.dataclass
class AggregateStep:
    """All changes to one aggregate; its metadata goes in one API call."""

    aggregate: str
    create: bool = False
    add_hosts: list[str] = dataclasses.field(default_factory=list)
    #: The keys to write (not applied yet); ``old`` is None for a new key.
    set_keys: list[MetadataChange] = dataclasses.field(default_factory=list)
    #: Keys already holding the wanted value (nothing to do).
    unchanged: list[str] = dataclasses.field(default_factory=list)

    @property
    def change_count(self) -> int:
        return int(self.create) + len(self.add_hosts) + len(self.set_keys)

    def metadata(self) -> dict[str, str | None]:
        """The ``set_metadata`` argument for this step."""
        return {c.key: c.new for c in self.set_keys}

    def metadata_parts(self) -> list[list[MetadataChange]]:
        """``set_keys`` split into ``set_metadata`` calls whose request body
        fits Nova's limit (``MAX_REQUEST_BODY``); one part when it fits."""
        parts: list[list[MetadataChange]] = []
        size = BODY_BUDGET + 1
        for change in self.set_keys:
            item = len(json.dumps(change.key)) + len(json.dumps(change.new)) + 4
            if size + item > BODY_BUDGET and (not parts or parts[-1]):
                parts.append([])
                size = 0
            parts[-1].append(change)
            size += item
        return parts


@dataclasses.dataclass(frozen=True)
class KeyConflict:
    """A target key that already holds something else."""

    aggregate: str
    key: str
    existing: str
    wanted: str
    #: False when even ``--replace`` cannot resolve it (a case-only clash).
    replaceable: bool = True

    def __str__(self) -> str:
        if not self.replaceable:
            return (
                "aggregate %r, key %r: the aggregate already has key %r, "
                "which Nova treats as the same key (keys compare "
                "case-insensitively); remove it first"
                % (self.aggregate, self.key, self.existing)
            )
        return (
            "aggregate %r, key %r: holds %s, the source defines %s "
            "(use --replace to overwrite)"
            % (self.aggregate, self.key, self.existing, self.wanted)
        )


class Problem(str):
    """A plan error's text (what is wrong), with an optional ``Hint`` (how
    to fix it) that the front end spells in ``MigrationPlan.lines``."""

    hint: Hint | None

    def __new__(cls, text: str, hint: Hint | None = None) -> "Problem":
        obj = super().__new__(cls, text)
        obj.hint = hint
        return obj

    def render(self, command: Speller = neutral_command) -> str:
        """The text, then the hint with its command spelled by ``command``."""
        if self.hint is None:
            return str(self)
        return "%s; %s" % (self, self.hint.render(command))


@dataclasses.dataclass
class MigrationPlan:
    """The full plan; ``steps`` only hold aggregates with something to do."""

    steps: list[AggregateStep]
    conflicts: list[KeyConflict]
    errors: list[str]
    warnings: list[str]
    unchanged: int

    @property
    def change_count(self) -> int:
        return sum(s.change_count for s in self.steps)

    @property
    def blocked(self) -> bool:
        return bool(self.errors or self.conflicts)

    def hosts_to_add(self) -> dict[str, list[str]]:
        """{host: aggregates it is to be added to}, over all steps."""
        out: dict[str, list[str]] = {}
        for step in self.steps:
            for host in step.add_hosts:
                out.setdefault(host, []).append(step.aggregate)
        return out

    def refuse_unknown_hosts(self, known: Collection[str]) -> None:
        """Block the plan with one error naming every host to add that is
        not in ``known`` (Nova's compute hosts): Nova would refuse each one
        mid-run, after earlier writes."""
        unknown = {h: aggs for h, aggs in self.hosts_to_add().items() if h not in known}
        if not unknown:
            return
        text = (
            "%d host(s) to add are not compute hosts Nova knows: %s. Nova "
            "refuses to add them ('openstack compute service list --service "
            "nova-compute' shows the hosts it knows)"
            % (
                len(unknown),
                "; ".join(
                    "host %r (for aggregate%s %s)"
                    % (host, "s" if len(aggs) > 1 else "", ", ".join(map(repr, aggs)))
                    for host, aggs in sorted(unknown.items())
                ),
            )
        )
        hint = Hint(
            "if they come from an inventory file, it is stale: re-export it "
            "with {command}, or remove these hosts from it",
            command="inventory export",
        )
        self.errors.append(Problem(text, hint))

    def lines(self, command: Speller = neutral_command) -> list[str]:
        """The plan for people: one line per change or problem; ``command``
        spells the commands named in hints (the front end's syntax)."""
        out = []
        for step in self.steps:
            if step.create:
                out.append("create aggregate %r" % step.aggregate)
            for host in step.add_hosts:
                out.append("add host %r to aggregate %r" % (host, step.aggregate))
            parts = step.metadata_parts()
            if len(parts) > 1:
                out.append(
                    "write the %d key(s) on aggregate %r in %d calls (Nova "
                    "refuses request bodies over %d bytes; each call is "
                    "journaled)"
                    % (len(step.set_keys), step.aggregate, len(parts), MAX_REQUEST_BODY)
                )
            for change in step.set_keys:
                verb = "set" if change.old is None else "replace"
                tail = "" if change.old is None else " (was %s)" % change.old
                out.append(
                    "%s %s=%s on aggregate %r%s"
                    % (verb, change.key, change.new, step.aggregate, tail)
                )
        out.extend("CONFLICT " + str(c) for c in self.conflicts)
        out.extend(
            "ERROR " + (e.render(command) if isinstance(e, Problem) else e)
            for e in self.errors
        )
        out.extend("WARNING " + w for w in self.warnings)
        return out


def wanted_state(
    flavors: Mapping[str, SourceFlavor],
    targets: Targets,
) -> dict[str, tuple[frozenset[str], dict[str, str]]]:
    """Per target aggregate: hosts it must contain, keys it must hold."""
    wanted: dict[str, tuple[frozenset[str], dict[str, str]]] = {}
    for agg, hosts in targets.hosts.items():
        wanted[agg] = (frozenset(hosts), {})
    for name, aggs in targets.by_flavor.items():
        if name not in flavors:
            continue
        for agg in aggs:
            wanted.setdefault(agg, (frozenset(), {}))[1][codec.make_key(name)] = (
                flavors[name].value
            )
    return wanted


def build_migration_plan(
    flavors: Mapping[str, SourceFlavor],
    targets: Targets,
    aggregates: Iterable[Aggregate],
    replace: bool = False,
    bad: Sequence[Refused] = (),
    skip_invalid: bool = False,
) -> MigrationPlan:
    """Compare wanted and current state; list changes and conflicts.

    Bad source entries block the plan unless ``skip_invalid``.
    """
    current = {a.name: a for a in aggregates}
    errors = list(targets.errors)
    warnings = list(targets.warnings)
    for entry in bad:
        if skip_invalid:
            warnings.append("skipped invalid source entry %s" % entry)
        else:
            errors.append(
                "invalid source entry %s (fix it, or use "
                "--skip-invalid to migrate the rest)" % entry
            )
    wanted = wanted_state(flavors, targets)
    steps, conflicts, unchanged = [], [], 0
    for agg in sorted(wanted):
        state = current.get(agg)
        if state is None and agg not in targets.hosts:
            errors.append(
                "aggregate %r (a target of %s) does not exist: "
                "create it and add its hosts first, or use "
                "--auto-aggregates"
                % (
                    agg,
                    ", ".join(
                        repr(n)
                        for n, a in sorted(targets.by_flavor.items())
                        if agg in a
                    ),
                )
            )
            continue
        metadata = dict(state.metadata) if state else {}
        folded = {k.lower(): k for k in metadata}
        step = AggregateStep(agg, create=state is None)
        have_hosts = frozenset(state.hosts) if state else frozenset()
        step.add_hosts = [h for h in targets.hosts.get(agg, ()) if h not in have_hosts]
        for key, value in sorted(wanted[agg][1].items()):
            existing_key = folded.get(key.lower())
            if existing_key is None:
                step.set_keys.append(MetadataChange(agg, key, None, value, False))
                continue
            if existing_key != key:
                conflicts.append(KeyConflict(agg, key, existing_key, value, False))
                continue
            old = metadata[key]
            if same_definition(old, value):
                step.unchanged.append(key)
                unchanged += 1
            elif replace:
                step.set_keys.append(MetadataChange(agg, key, old, value, False))
            else:
                conflicts.append(KeyConflict(agg, key, old, value))
        if step.change_count:
            steps.append(step)
    return MigrationPlan(steps, conflicts, errors, warnings, unchanged)


def same_definition(existing: str | None, wanted: str) -> bool:
    """Equal as definitions (an existing value may be spelled differently)."""
    if existing is None:
        return False
    if existing == wanted:
        return True
    try:
        return codec.canonicalize(existing) == wanted
    except codec.PciFlavorError:
        return False
