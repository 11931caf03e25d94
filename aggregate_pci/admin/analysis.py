"""Pure analyses behind ``alias-config``, ``check`` and ``capacity``.

No I/O and no Nova/novaclient/keystoneauth imports: inputs are the
``FlavorRecord``s of ``api`` (or any objects with the same attributes), Nova
flavor alias requests as dicts, and pools as dicts (see ``matching``).
Candidates for the core (``aggregate_pci.capacity``) if others need them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Iterable, Mapping, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.capacity import effective_definitions, fleet_instances_fit

ERROR = "error"
WARNING = "warning"


# -- definitions per name / per host ------------------------------------------


def definitions_by_name(records: Iterable[Any]) -> dict[str, dict[str, codec.PciFlavorDefinition]]:
    """{flavor name: {aggregate: definition}} over the valid records."""
    out: dict[str, dict[str, codec.PciFlavorDefinition]] = {}
    for r in records:
        if r.definition is not None:
            out.setdefault(r.name, {})[r.aggregate] = r.definition
    return out


def host_definitions(records: Iterable[Any]) -> dict[str, dict[str, codec.PciFlavorDefinition]]:
    """{host: {flavor: definition}}: the OR of the host's aggregates' ones."""
    per_host: dict[str, list[dict[str, codec.PciFlavorDefinition]]] = {}
    for r in records:
        if r.definition is not None:
            for host in r.hosts:
                per_host.setdefault(host, []).append({r.name: r.definition})
    return {host: effective_definitions(defs) for host, defs in per_host.items()}


# -- [pci] alias generation -----------------------------------------------------


class AliasConflict(ValueError):
    """Definitions of one name cannot be one Nova alias."""


def alias_entries(records: Iterable[Any]) -> list[dict[str, str]]:
    """The ``[pci] alias`` entries for every defined flavor, ORing the
    definitions of one name (Nova ORs alias entries with the same name).

    Nova requires one ``device_type`` and one ``numa_policy`` per alias
    name, and ``device_type`` set when a name has several entries: raise
    ``AliasConflict`` naming the flavor and aggregates otherwise.
    ``live_migratable``, the one tag Nova's alias schema knows, is carried
    over; other tags (``address``, ``physical_network``...) cannot be
    expressed in an alias and are left out (``check`` reports hosts where
    that matters).
    """
    entries: list[dict[str, str]] = []
    problems = []
    for name, per_agg in sorted(definitions_by_name(records).items()):
        seen: dict[tuple, list[str]] = {}
        for agg, definition in sorted(per_agg.items()):
            for m in definition.matches:
                sig = (m.vendor_id, m.product_id, m.device_type, m.numa_policy,
                       dict(m.tags).get("live_migratable"))
                seen.setdefault(sig, []).append(agg)
        for field, idx in (("device_type", 2), ("numa_policy", 3)):
            values: dict[Any, set[str]] = {}
            for sig, aggs in seen.items():
                values.setdefault(sig[idx], set()).update(aggs)
            if len(values) > 1:
                problems.append(
                    "PCI flavor %r, key %r: %s differs between definitions (%s); "
                    "Nova needs one %s per alias name: make the definitions "
                    "agree or use different flavor names" % (
                        name, codec.KEY_PREFIX + name, field,
                        "; ".join("%s on aggregate(s) %s" % (v or "unset", ", ".join(sorted(a)))
                                  for v, a in sorted(values.items(), key=lambda x: str(x[0]))),
                        field))
        if len(seen) > 1 and any(sig[2] is None for sig in seen):
            # nova.pci.request.get_alias_from_config compares the dev_type of
            # every further entry of a name with the first one's, and fails
            # (PciInvalidAlias) when it is missing.
            problems.append(
                "PCI flavor %r, key %r: it becomes %d [pci] alias entries "
                "(one per vendor/product), and Nova accepts several entries "
                "of one name only if each sets device_type: add "
                "\"device_type\" to every match object of this flavor"
                % (name, codec.KEY_PREFIX + name, len(seen)))
        for vendor, product, device_type, numa_policy, live in sorted(seen, key=str):
            entry = {"name": name, "vendor_id": vendor, "product_id": product}
            if device_type is not None:
                entry["device_type"] = device_type
            if numa_policy is not None:
                entry["numa_policy"] = numa_policy
            if live is not None:
                entry["live_migratable"] = live
            entries.append(entry)
    if problems:
        raise AliasConflict("; ".join(problems))
    return entries


def alias_line(entry: Mapping[str, str]) -> str:
    """One entry as nova.conf wants it: compact JSON on one line."""
    return json.dumps(dict(entry), sort_keys=True, separators=(", ", ": "))


def parse_conf_aliases(lines: Iterable[str]) -> tuple[list[dict[str, str]], list[str]]:
    """Decode ``[pci] alias`` values (one JSON object each, as Nova 34's
    ``get_alias_from_config`` requires); return the entries and one error
    per bad value."""
    out: list[dict[str, str]] = []
    errors = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError as exc:
            errors.append("[pci] alias %r is not valid JSON: %s" % (line, exc))
            continue
        if not isinstance(doc, dict):
            errors.append("[pci] alias %r: each value must be one JSON object "
                          "(Nova refuses lists); write one alias line per "
                          "entry" % line)
            continue
        if "name" not in doc:
            errors.append("[pci] alias %r: each entry needs a 'name'" % line)
            continue
        out.append({k: str(v) for k, v in doc.items()})
    return out, errors


def _alias_sig(entry: Mapping[str, str]) -> tuple:
    return (entry.get("name"), str(entry.get("vendor_id", "")).lower(),
            str(entry.get("product_id", "")).lower(), entry.get("device_type"),
            entry.get("numa_policy"))


def alias_predicates(entries: Iterable[Mapping[str, str]]) -> dict[str, matching.Predicate]:
    """{alias name: predicate} matching what Nova's claim would accept
    (vendor, product and device_type of any entry of that name)."""
    by_name: dict[str, list[codec.DeviceMatch]] = {}
    for e in entries:
        try:
            m = codec.parse_match({k: e[k] for k in ("vendor_id", "product_id",
                                                     "device_type") if k in e})
        except (codec.PciFlavorError, KeyError):
            continue
        by_name.setdefault(e["name"], []).append(m)
    return {name: matching.compile_definition(codec.PciFlavorDefinition(tuple(ms)))
            for name, ms in by_name.items()}


# -- check ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Issue:
    """One finding of ``check``."""

    severity: str
    subject: str
    message: str


def lint(records: Sequence[Any],
         nova_flavors: Sequence[tuple[str, Mapping[str, int]]],
         conf_aliases: Sequence[str] | None = None,
         host_pools: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
         ) -> list[Issue]:
    """Everything ``check`` reports, errors first.

    ``nova_flavors``: (Nova flavor name, {alias name: count}) pairs.
    ``conf_aliases``: the ``[pci] alias`` values of a nova.conf, if given.
    ``host_pools``: every device of each host as pools (free and used), if
    known; enables the "alias also matches excluded devices" check.
    """
    issues: list[Issue] = []
    for r in records:
        if r.error is not None:
            issues.append(Issue(ERROR, "aggregate %r, key %r" % (r.aggregate, r.key),
                                "%s; fix it with 'aggregate-pci flavor create %s "
                                "--aggregate %s --replace ...' or delete the key"
                                % (r.error, r.name, r.aggregate)))
    by_name = definitions_by_name(records)
    for name, per_agg in sorted(by_name.items()):
        values = {d.serialize(): a for a, d in per_agg.items()}
        if len(values) > 1:
            issues.append(Issue(
                ERROR, "PCI flavor %r" % name,
                "defined differently on aggregates %s (%s); hosts in several "
                "of them get the OR of the definitions: make them equal, or "
                "use different names" % (
                    ", ".join(sorted(per_agg)),
                    "; ".join("%s: %s" % (a, per_agg[a].serialize())
                              for a in sorted(per_agg)))))
    conf_entries: list[dict[str, str]] | None = None
    if conf_aliases is not None:
        conf_entries, errors = parse_conf_aliases(conf_aliases)
        issues.extend(Issue(ERROR, "nova.conf [pci] alias", e) for e in errors)
    conf_names = {e["name"] for e in conf_entries or ()}
    requested: dict[str, list[str]] = {}
    for flavor_name, request in nova_flavors:
        for alias in request:
            requested.setdefault(alias, []).append(flavor_name)
    for alias, flavors in sorted(requested.items()):
        if alias in by_name:
            continue
        subject = "PCI flavor %r" % alias
        users = ", ".join(sorted(flavors))
        if conf_entries is not None and alias in conf_names:
            issues.append(Issue(WARNING, subject,
                                "Nova flavor(s) %s request it but no aggregate "
                                "defines it: it is unmanaged (Nova's [pci] "
                                "alias alone decides where it lands)" % users))
        elif conf_entries is not None:
            issues.append(Issue(ERROR, subject,
                                "Nova flavor(s) %s request it but neither an "
                                "aggregate nor the [pci] alias of the given "
                                "nova.conf defines it: boots will fail; define "
                                "it with 'aggregate-pci flavor create %s "
                                "--aggregate AGG ...'" % (users, alias)))
        else:
            issues.append(Issue(WARNING, subject,
                                "Nova flavor(s) %s request it but no aggregate "
                                "defines it: unmanaged, or undefined if nova.conf "
                                "has no such alias (pass --nova-conf to tell)" % users))
    for name in sorted(set(by_name) - set(requested)):
        issues.append(Issue(WARNING, "PCI flavor %r" % name,
                            "defined on aggregate(s) %s but no Nova flavor "
                            "requests it (extra spec pci_passthrough:alias=%s:N)"
                            % (", ".join(sorted(by_name[name])), name)))
    generated: list[dict[str, str]] | None
    try:
        generated = alias_entries(records)
    except AliasConflict as exc:
        generated = None
        issues.append(Issue(ERROR, "[pci] alias", str(exc)))
    if conf_entries is not None and generated is not None:
        issues.extend(_alias_drift(generated, conf_entries, set(by_name)))
    if host_pools is not None:
        entries = conf_entries if conf_entries is not None else (generated or [])
        issues.extend(_excluded_devices(records, entries, host_pools))
    issues.sort(key=lambda i: (i.severity != ERROR, i.subject))
    return issues


def _alias_drift(generated: list[dict[str, str]], conf: list[dict[str, str]],
                 managed: set[str]) -> list[Issue]:
    issues = []
    want = {_alias_sig(e) for e in generated}
    have = {_alias_sig(e) for e in conf if e.get("name") in managed}
    for name in sorted(managed):
        missing = sorted((s for s in want - have if s[0] == name), key=str)
        extra = sorted((s for s in have - want if s[0] == name), key=str)
        if not missing and not extra:
            continue
        parts = []
        if missing:
            parts.append("missing %s" % "; ".join(_sig_text(s) for s in missing))
        if extra:
            parts.append("not in any aggregate definition: %s"
                         % "; ".join(_sig_text(s) for s in extra))
        issues.append(Issue(ERROR, "PCI flavor %r, nova.conf [pci] alias" % name,
                            "drift between the aggregates and nova.conf: %s; "
                            "regenerate with 'aggregate-pci alias-config' and "
                            "restart nova-api and nova-compute"
                            % ", ".join(parts)))
    return issues


def _sig_text(sig: tuple) -> str:
    keys = ("name", "vendor_id", "product_id", "device_type", "numa_policy")
    return alias_line({k: v for k, v in zip(keys, sig, strict=True) if v})


def _excluded_devices(records: Sequence[Any], entries: Iterable[Mapping[str, str]],
                      host_pools: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Issue]:
    issues = []
    alias_preds = alias_predicates(entries)
    for host, defs in sorted(host_definitions(records).items()):
        pools = host_pools.get(host)
        if not pools:
            continue
        for name, definition in sorted(defs.items()):
            alias_pred = alias_preds.get(name)
            if alias_pred is None:
                continue
            ours = matching.compile_definition(definition)
            excluded = [p for p in pools if alias_pred(p) and not ours(p)]
            n = sum(total_count(p) for p in excluded)
            if n:
                where = sorted({str(p.get("address")) for p in excluded})[:3]
                issues.append(Issue(
                    ERROR, "host %r, PCI flavor %r" % (host, name),
                    "the [pci] alias matches %d device(s) the host's definition "
                    "excludes (e.g. %s): Nova's compute claim could take them; "
                    "keep them out with [pci] device_spec on that host, or "
                    "widen the definition" % (n, ", ".join(where))))
    return issues


# -- capacity -------------------------------------------------------------------


def total_count(pool: Mapping[str, Any]) -> int:
    """All devices of an inventory pool: free (``count``) plus ``used``."""
    return matching.pool_count(pool) + _used(pool)


def _used(pool: Mapping[str, Any]) -> int:
    used = pool.get("used", 0)
    return used if isinstance(used, int) and used > 0 else 0


@dataclasses.dataclass(frozen=True)
class CapacityRow:
    """Devices of one flavor in one scope (total, an aggregate or a host)."""

    flavor: str
    scope: str
    name: str
    matching: int
    used: int
    free: int


def capacity(records: Sequence[Any],
             host_pools: Mapping[str, Sequence[Mapping[str, Any]]],
             progress: Callable[[int, int], None] | None = None,
             ) -> list[CapacityRow]:
    """Per flavor: totals, per aggregate and per host (matching/used/free).

    Pools carry ``count`` (free) and ``used`` devices.  Each device is
    counted once per row even if it matches several match objects or the
    host is in several aggregates defining the flavor (hosts use the OR of
    their aggregates' definitions; an aggregate row uses its own definition).

    Fast on large fleets: hosts with the same aggregates share their
    effective definitions, and a definition is evaluated once per distinct
    pool signature (the pool's attributes without its counts).
    """
    valid = [r for r in records if r.definition is not None]
    def_ids: dict[codec.PciFlavorDefinition, int] = {}
    defs: list[codec.PciFlavorDefinition] = []

    def intern(definition: codec.PciFlavorDefinition) -> int:
        i = def_ids.get(definition)
        if i is None:
            i = def_ids[definition] = len(defs)
            defs.append(definition)
        return i

    rec_def = [intern(r.definition) for r in valid]
    memberships: dict[str, list[int]] = {}
    for idx, r in enumerate(valid):
        for host in r.hosts:
            memberships.setdefault(host, []).append(idx)
    # {membership: ({flavor: effective def id}, needed def ids)}
    groups: dict[tuple[int, ...], tuple[dict[str, int], tuple[int, ...]]] = {}
    host_group: dict[str, tuple[int, ...]] = {}
    for host, idxs in memberships.items():
        key = tuple(idxs)
        host_group[host] = key
        if key in groups:
            continue
        effective = host_definitions([valid[i] for i in idxs]).get(host, {})
        eff_ids = {name: intern(d) for name, d in effective.items()}
        needed = set(eff_ids.values()) | {rec_def[i] for i in idxs}
        groups[key] = (eff_ids, tuple(sorted(needed)))
    # Distinct pool signatures (attributes without counts; key order kept, a
    # different order is only a cache miss) are evaluated once against every
    # definition; each pool then adds its counts to the definitions it matches.
    sig_ids: dict[tuple, int] = {}
    sig_bits: list[tuple[int, ...]] = []
    preds = [matching.compile_definition(d) for d in defs]
    skip = ("count", "used", "numa_node")
    counts: dict[tuple[str, int], tuple[int, int, int]] = {}
    total_hosts = len(host_group)
    n_defs = len(defs)
    for n, (host, key) in enumerate(sorted(host_group.items())):
        free = [0] * n_defs
        used = [0] * n_defs
        for pool in host_pools.get(host, ()):
            sig = tuple([(k, v) for k, v in pool.items() if k not in skip])
            sig_id = sig_ids.get(sig)
            if sig_id is None:
                sig_id = sig_ids[sig] = len(sig_bits)
                sig_bits.append(tuple(d for d, pred in enumerate(preds) if pred(pool)))
            bits = sig_bits[sig_id]
            if bits:
                f, u = matching.pool_count(pool), _used(pool)
                for d in bits:
                    free[d] += f
                    used[d] += u
        for d in groups[key][1]:
            counts[(host, d)] = (free[d] + used[d], used[d], free[d])
        if progress is not None and ((n + 1) % 1000 == 0 or n + 1 == total_hosts):
            progress(n + 1, total_hosts)
    names = sorted({r.name for r in valid})
    rows: list[CapacityRow] = []
    for name in names:
        totals = [0, 0, 0]
        host_rows = []
        for host in sorted(host_group):
            d = groups[host_group[host]][0].get(name)
            if d is None:
                continue
            m, u, f = counts[(host, d)]
            host_rows.append(CapacityRow(name, "host", host, m, u, f))
            totals = [totals[0] + m, totals[1] + u, totals[2] + f]
        rows.append(CapacityRow(name, "total", "*", *totals))
        for idx in sorted((i for i, r in enumerate(valid) if r.name == name),
                          key=lambda i: valid[i].aggregate):
            s = [0, 0, 0]
            for host in valid[idx].hosts:
                m, u, f = counts[(host, rec_def[idx])]
                s = [s[0] + m, s[1] + u, s[2] + f]
            rows.append(CapacityRow(name, "aggregate", valid[idx].aggregate, *s))
        rows.extend(host_rows)
    return rows


def fit(records: Sequence[Any],
        host_pools: Mapping[str, Sequence[Mapping[str, Any]]],
        request: Mapping[str, int]) -> tuple[dict[str, int], int]:
    """How many more instances asking ``request`` ({flavor: count}) fit per
    host (hosts defining every requested flavor) and in total, exactly."""
    per_host_defs = host_definitions(records)
    hosts = {h: (host_pools.get(h, ()), defs) for h, defs in per_host_defs.items()
             if all(n in defs for n, c in request.items() if c)}
    return fleet_instances_fit(hosts, request)
