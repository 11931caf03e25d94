#!/usr/bin/env bash
# Prove that aggregate-pci's runtime dependency ranges fit a release's Nova:
# in a fresh venv holding that release's Nova and placement (installed under
# its upper-constraints), `pip install --dry-run .` (with and without the
# constraints file) must install aggregate-pci and nothing else, i.e. upgrade
# or downgrade none of Nova's libraries (the plain dry run is reported for
# information: it takes PyPI's newest releases); then the constrained install
# must leave every package Nova's venv had at its version, and `pip check`
# must be clean.
#
#   tools/release/check_dependency_bounds.sh [RELEASE...]   (default: 2024.1)
# Needs ../shared/upper-constraints/ (or AGGREGATE_PCI_UPPER_CONSTRAINTS).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")/../.." && pwd)
uc_dir=${AGGREGATE_PCI_UPPER_CONSTRAINTS:-$here/../shared/upper-constraints}
declare -A NOVA=([2024.1]=29.4.0 [2025.1]=31.3.1 [2025.2]=32.2.1 [2026.1]=33.0.2 [2026.2]=34.0.0)
declare -A PLACEMENT=([2024.1]=11.0.0 [2025.1]=13.0.1 [2025.2]=14.0.0 [2026.1]=15.0.0 [2026.2]=16.0.0)
[ $# -gt 0 ] || set -- 2024.1
rc=0
for rel in "$@"; do
    uc=$uc_dir/$rel.txt
    [ -f "$uc" ] || uc=$uc_dir/$rel-master.txt
    [ -f "$uc" ] || { echo "no upper-constraints file for $rel in $uc_dir" >&2; exit 2; }
    tmp=$(mktemp -d)
    ucf=$tmp/uc.txt
    # 2026.2's master file pins keystoneauth1 5.15.0 and oslo.versionedobjects
    # 3.11.0, below Nova 34's minimums (>= 5.16, >= 3.12.0).
    if [ "$rel" = 2026.2 ]; then grep -vE '^(keystoneauth1|oslo.versionedobjects)===' "$uc" >"$ucf"; else cp "$uc" "$ucf"; fi
    python3 -m venv "$tmp/venv"
    pip=("$tmp/venv/bin/python" -m pip --disable-pip-version-check -q)
    "${pip[@]}" install -c "$ucf" "setuptools<81" "nova==${NOVA[$rel]}" \
        "openstack-placement==${PLACEMENT[$rel]}" >"$tmp/install.log" 2>&1 \
        || { tail -n 20 "$tmp/install.log" >&2; echo "$rel: Nova install failed" >&2; rc=1; continue; }
    "${pip[@]}" freeze --exclude-editable | sort >"$tmp/before"
    for mode in constrained plain; do
        args=(); [ $mode = constrained ] && args=(-c "$ucf")
        "${pip[@]}" install --dry-run --report "$tmp/report-$mode.json" "${args[@]}" "$here" \
            >/dev/null 2>&1 || { echo "$rel ($mode): pip install --dry-run failed" >&2; rc=1; continue; }
        verdict=$("$tmp/venv/bin/python" -c '
import json, re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
before = dict(norm(l).split("==", 1) for l in open(sys.argv[2]).read().split() if "==" in l)
changed, added = [], []
for i in json.load(open(sys.argv[1]))["install"]:
    name, ver = norm(i["metadata"]["name"]), i["metadata"]["version"]
    if name == "aggregate-pci":
        continue
    (changed if name in before else added).append(
        "%s %s->%s" % (name, before[name], ver) if name in before else "%s==%s" % (name, ver))
print("CHANGED " + " ".join(changed) if changed else "OK adds: " + (" ".join(added) or "nothing"))
' "$tmp/report-$mode.json" "$tmp/before")
        case $verdict in
            CHANGED*)
                echo "$rel ($mode dry run): would upgrade/downgrade Nova's libraries: ${verdict#CHANGED }"
                # Only the constrained install is the promise; a plain one
                # takes the newest releases PyPI has (reported, not failed).
                [ $mode = plain ] || rc=1 ;;
            *) echo "$rel ($mode dry run): no installed package changes; ${verdict#OK }" ;;
        esac
    done
    "${pip[@]}" install -c "$ucf" "$here" >/dev/null 2>&1
    "${pip[@]}" freeze --exclude-editable | grep -v '^aggregate-pci' | sort >"$tmp/after"
    # Packages Nova's venv already had must keep their versions; new ones
    # (python-novaclient: Nova does not use it) are additions.
    join -t= -j1 <(sed 's/==/=/' "$tmp/before" | sort -t= -k1,1) <(sed 's/==/=/' "$tmp/after" | sort -t= -k1,1) \
        | awk -F= '$2 != $3' >"$tmp/changed"
    if [ ! -s "$tmp/changed" ]; then
        echo "$rel: installed: none of the $(wc -l <"$tmp/before") packages of Nova's venv changed version; added: $(comm -13 "$tmp/before" "$tmp/after" | tr '\n' ' ')"
    else
        echo "$rel: the install changed Nova's venv: $(cat "$tmp/changed")"; rc=1
    fi
    if "$tmp/venv/bin/python" -m pip check; then :; else rc=1; fi
    rm -rf "$tmp"
done
exit $rc
