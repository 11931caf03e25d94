#!/usr/bin/env bash
# A real multi-process OpenStack cloud on 127.0.0.1 for tests/real_cloud/.
#
#   tools/cloud/cloud.sh up DIR      start everything under DIR (created if missing)
#   tools/cloud/cloud.sh down DIR    stop everything DIR's pid files name
#   tools/cloud/cloud.sh status DIR  one line per service: running/stopped
#   tools/cloud/cloud.sh restart NAME DIR  stop NAME (if alive) and start it
#                                    again with the command `up` gave it
#                                    (used after kill -9: tests/real_cloud/test_faults.py)
#
# MariaDB and RabbitMQ (Debian packages, apt-installed if missing), keystone
# (fernet, bootstrap), placement and nova-api under uWSGI with
# keystonemiddleware, nova-conductor, nova-scheduler with AggregatePciFilter,
# two nova-compute with a fake PCI driver (tools/cloud/fake_pci_driver.py),
# cells v2; Glance and Neutron are stubs (tools/cloud/stubs.py).  No systemd:
# every process is started by this script, writes DIR/run/NAME.pid and is
# stopped by `down` by that pid (its process group).  Only 127.0.0.1.
#
# The venv (nova 34, placement 16, keystone, uWSGI, OpenStackClient, and
# aggregate-pci from this checkout) is $AGGREGATE_PCI_CLOUD_VENV, by default
# .cloud-venv/ in the checkout; it is reused when its stamp matches, and
# aggregate-pci is reinstalled into it on every `up`.
#
# After `up`, DIR/cloud.env holds the variables the tests need
# (OS_CLIENT_CONFIG_FILE, PATH, nova.conf paths); clouds.yaml names two
# clouds: `admin` and `demo` (member role only).  Secrets live only in
# DIR (mode 0700): config files, clouds.yaml, secrets.env.
#
# AGGREGATE_PCI_CLOUD_SCALE_NODES=N (opt-in, for tools/bench/cloud_scheduler.py):
# N more fake nodes with PCI devices in a few more nova-compute processes,
# timing filters and debug logging in the scheduler (docs/cloud.md).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
action=${1:-}
R=${2:-}
if [ "$action" = restart ]; then SERVICE=$R; R=${3:-}; fi
[ -n "$action" ] && [ -n "$R" ] || { echo "usage: $0 up|down|status DIR, or $0 restart NAME DIR" >&2; exit 2; }
mkdir -p "$R"
R=$(cd "$R" && pwd)

VENV=${AGGREGATE_PCI_CLOUD_VENV:-$here/.cloud-venv}
BASE=${AGGREGATE_PCI_CLOUD_PORT_BASE:-42000}
KS_PORT=$BASE; PL_PORT=$((BASE + 1)); NOVA_PORT=$((BASE + 2))
GLANCE_PORT=$((BASE + 3)); NEUTRON_PORT=$((BASE + 4))
DB_PORT=$((BASE + 6)); RABBIT_PORT=$((BASE + 7)); RABBIT_DIST_PORT=$((BASE + 8))
EPMD_PORT=$((BASE + 9))
VENV_PKGS=(nova==34.0.0 openstack-placement==16.0.0 keystone==30.0.0 'SQLAlchemy>=2.0,<2.1'
           PyMySQL python-openstackclient python-novaclient uwsgi)
# Opt-in scale nodes (tools/bench/cloud_scheduler.py; docs/cloud.md): this
# many fake nodes over SCALE_HOSTS extra nova-compute processes scale1...
SCALE_NODES=${AGGREGATE_PCI_CLOUD_SCALE_NODES:-0}
SCALE_HOSTS=${AGGREGATE_PCI_CLOUD_SCALE_HOSTS:-4}
SCALE_DEBUG=${AGGREGATE_PCI_CLOUD_SCALE_DEBUG:-1}
# Stop order; `up` starts in reverse.
SERVICES=(compute2 compute1 scheduler conductor nova-api placement keystone stubs
          rabbitmq epmd mariadb)

log() { printf '%s cloud: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_of() { [ -s "$R/run/$1.pid" ] && cat "$R/run/$1.pid"; }
alive() { local p; p=$(pid_of "$1") && kill -0 "$p" 2>/dev/null; }

# start NAME CMD...: run CMD in its own session (pgid = pid) with output
# appended to DIR/log/NAME.log, its pid in DIR/run/NAME.pid and CMD itself
# (shell-quoted) in DIR/run/NAME.cmd for `restart`.
start() {
    local name=$1; shift
    setsid "$@" >>"$R/log/$name.log" 2>&1 </dev/null &
    echo $! >"$R/run/$name.pid"
    printf '%q ' "$@" >"$R/run/$name.cmd"
}

# Services `restart` knows how to wait for: NAME -> the line its log gets
# once it serves (nova.service logs it when its RPC server starts).
ready_line() {
    case "$1" in
        scheduler) echo "Starting scheduler node" ;;
        conductor) echo "Starting conductor node" ;;
        *) return 1 ;;
    esac
}

do_restart() {  # do_restart NAME
    local name=$1 line before i
    line=$(ready_line "$name") || die "restart: only scheduler and conductor can be restarted (not '$name')"
    [ -s "$R/run/$name.cmd" ] || die "restart: no $R/run/$name.cmd (was the cloud started by this script's up?)"
    before=$(grep -c "$line" "$R/log/$name.log" 2>/dev/null || true)
    stop_one "$name"
    # shellcheck disable=SC2046
    eval "start $name $(cat "$R/run/$name.cmd")"
    for ((i = 0; i < 120; i++)); do
        [ "$(grep -c "$line" "$R/log/$name.log" 2>/dev/null || true)" -gt "${before:-0}" ] && break
        alive "$name" || { tail -n 30 "$R/log/$name.log" >&2; die "$name exited after restart (log: $R/log/$name.log)"; }
        sleep 0.5
    done
    [ "$i" -lt 120 ] || die "$name restarted but its log has no new '$line' after 60 s ($R/log/$name.log)"
    log "$name restarted (pid $(pid_of "$name"))"
}

wait_port() {  # wait_port NAME PORT TIMEOUT
    local name=$1 port=$2 t=$3 i
    for ((i = 0; i < t * 2; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if [ "$name" != - ] && ! alive "$name"; then
            tail -n 30 "$R/log/$name.log" >&2 || true
            die "$name exited before listening on 127.0.0.1:$port (log: $R/log/$name.log)"
        fi
        sleep 0.5
    done
    [ "$name" = - ] || tail -n 30 "$R/log/$name.log" >&2 || true
    die "nothing listening on 127.0.0.1:$port after ${t}s ($name)"
}

stop_one() {
    local name=$1 p i
    p=$(pid_of "$name") || return 0
    if kill -0 "$p" 2>/dev/null; then
        # Our process and its children (same process group, set by setsid).
        kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
        for ((i = 0; i < 40; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$p" 2>/dev/null; then
            log "$name (pid $p) ignored SIGTERM for 10 s: SIGKILL"
            kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
        fi
        # Children that left the group's leader behind (uWSGI workers).
        kill -KILL -- "-$p" 2>/dev/null || true
    fi
    rm -f "$R/run/$name.pid"
}

do_down() {
    local s
    [ -d "$R/run" ] || { log "nothing to stop in $R"; return 0; }
    # RabbitMQ's beam process writes its own pid file; stop it too.
    if [ -s "$R/rabbit/rabbit.pid" ]; then
        cp "$R/rabbit/rabbit.pid" "$R/run/rabbitmq-beam.pid" 2>/dev/null || true
    fi
    for s in $(scale_services) "${SERVICES[@]}" rabbitmq-beam; do stop_one "$s"; done
    log "stopped (pid files in $R/run)"
}

do_status() {
    local s rc=0
    for s in $(scale_services) "${SERVICES[@]}"; do
        if alive "$s"; then echo "$s running pid $(pid_of "$s")"
        else echo "$s stopped"; rc=3; fi
    done
    return $rc
}

apt_install() {
    local need=()
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
    command -v gcc >/dev/null || need+=(gcc)
    [ -e /usr/include/python3.11/Python.h ] || python3 -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"]+"/Python.h"))' || need+=(python3-dev)
    [ ${#need[@]} = 0 ] && return 0
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    log "apt-get install ${need[*]} (waiting up to 300 s for apt's lock)"
    # apt waits for a lock another apt holds (unattended upgrades) instead of
    # failing at once; run in the background so a signal stops it promptly.
    local lock=(-o DPkg::Lock::Timeout=300)
    interruptible timeout 600 $sudo apt-get "${lock[@]}" update -qq
    interruptible env DEBIAN_FRONTEND=noninteractive timeout 900 \
        $sudo apt-get "${lock[@]}" install -y -qq "${need[@]}" >/dev/null
}

# interruptible CMD...: run CMD as a child and wait for it, so SIGTERM or
# SIGINT reach this script's trap at once (bash runs traps only between
# foreground commands); the trap stops the child too.
CHILD=""
interruptible() {
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return $rc
}

make_venv() {
    local stamp="${VENV_PKGS[*]}"
    if [ ! -x "$VENV/bin/uwsgi" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
        log "building venv $VENV (about 2-4 min)"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        timeout 1200 "$VENV/bin/pip" install -q --disable-pip-version-check "${VENV_PKGS[@]}" \
            >"$R/log/venv.log" 2>&1 || { tail -n 30 "$R/log/venv.log" >&2; die "venv install failed"; }
        echo "$stamp" >"$VENV/.stamp"
    fi
    # A built wheel (AGGREGATE_PCI_CLOUD_WHEEL, as CI passes it: what
    # operators install, docs/install.md) or else this checkout.
    local what=${AGGREGATE_PCI_CLOUD_WHEEL:-$here}
    log "installing aggregate-pci from $what into the cloud venv"
    # As an operator would: with its dependencies (already there: nothing
    # of Nova's may be upgraded; the log shows what pip did).
    { "$VENV/bin/pip" uninstall -q -y aggregate-pci || true
      timeout 300 "$VENV/bin/pip" install --disable-pip-version-check "$what"; } \
        >"$R/log/pip-aggregate-pci.log" 2>&1 || { tail -n 30 "$R/log/pip-aggregate-pci.log" >&2; die "pip install aggregate-pci failed"; }
    local site
    site=$("$VENV/bin/python" -c 'import nova.virt, os; print(os.path.dirname(nova.virt.__file__))')
    cp "$here/tools/cloud/fake_pci_driver.py" "$site/aggregate_pci_fake.py"
    if [ "$SCALE_NODES" -gt 0 ]; then
        cp "$here/tools/cloud/bench_timing.py" "$(dirname "$(dirname "$site")")/aggregate_pci_bench_timing.py"
    fi
}

# Scale processes started in DIR (pid files), whatever the env says now.
scale_services() {
    local f
    for f in "$R"/run/scale*.pid; do [ -e "$f" ] && basename "$f" .pid; done
    return 0
}

# AGGREGATE_PCI_CLOUD_SCALE_NODES: per scale host a config and its nodes'
# devices (tools/cloud/scale_layout.py); the scheduler gets debug logging and
# the timing filters and weigher of tools/cloud/bench_timing.py
# (scheduler-scale.conf).
# Sets SCALE_PCI_NODES (nodes with devices).
write_scale_configs() {
    local etc="$R/etc/nova" host nodes pci filters weighers hosts
    hosts=$("$VENV/bin/python" "$here/tools/cloud/scale_layout.py" "$SCALE_NODES" "$SCALE_HOSTS" "$R") \
        || die "tools/cloud/scale_layout.py $SCALE_NODES $SCALE_HOSTS $R failed"
    SCALE_PCI_NODES=0
    while read -r host nodes pci; do
        SCALE_PCI_NODES=$((SCALE_PCI_NODES + pci))
        mkdir -p "$R/$host/lock"
        cat >"$etc/$host.conf" <<EOF
[DEFAULT]
host = $host
state_path = $R/$host
compute_driver = aggregate_pci_fake.MultiNodePciFakeDriver
# $nodes nodes: the resource tracker's periodic pass over all of them would
# load the conductor every minute; start-up reports them once.
update_resources_interval = 1800
[oslo_concurrency]
lock_path = $R/$host/lock
[pci]
device_spec = {"vendor_id": "10de"}
EOF
    done <<<"$hosts"
    filters=$(sed -n 's/^enabled_filters = //p' "$etc/nova.conf" |
        sed -E 's/(^|,)AggregatePciFilter(,|$)/\1TimedAggregatePciFilter\2/; s/(^|,)PciPassthroughFilter(,|$)/\1TimedPciPassthroughFilter\2/')
    weighers=$(sed -n 's/^weight_classes = //p' "$etc/nova.conf" |
        sed -E 's/(^|,)aggregate_pci\.weigher\.AggregatePciWeigher(,|$)/\1aggregate_pci_bench_timing.TimedAggregatePciWeigher\2/')
    [[ $weighers == *TimedAggregatePciWeigher* ]] \
        || die "no aggregate_pci.weigher.AggregatePciWeigher in weight_classes of $etc/nova.conf to time"
    cat >"$etc/scheduler-scale.conf" <<EOF
[DEFAULT]
debug = $([ "$SCALE_DEBUG" = 1 ] && echo true || echo false)
[filter_scheduler]
available_filters = aggregate_pci_bench_timing.TimedAggregatePciFilter
available_filters = aggregate_pci_bench_timing.TimedPciPassthroughFilter
enabled_filters = $filters
weight_classes = $weighers
EOF
    cat >>"$R/cloud.env" <<EOF
export AGGREGATE_PCI_CLOUD_SCALE_NODES=$SCALE_NODES
export AGGREGATE_PCI_CLOUD_SCALE_HOSTS=$SCALE_HOSTS
export AGGREGATE_PCI_CLOUD_SCALE_DEBUG=$SCALE_DEBUG
EOF
}

secret() { "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))'; }

write_configs() {
    if [ ! -s "$R/secrets.env" ]; then
        umask 077
        {
            echo "DB_PASS=$(secret)"; echo "ADMIN_PASS=$(secret)"
            echo "SERVICE_PASS=$(secret)"; echo "DEMO_PASS=$(secret)"
        } >"$R/secrets.env"
        umask 022
    fi
    # shellcheck disable=SC1091
    . "$R/secrets.env"
    local db="mysql+pymysql://cloud:$DB_PASS@127.0.0.1:$DB_PORT"
    local ks="http://127.0.0.1:$KS_PORT"
    local etc="$R/etc"
    mkdir -p "$etc/keystone" "$etc/placement" "$etc/nova" "$R/keystone/fernet-keys" \
        "$R/keystone/credential-keys"
    chmod 700 "$R/keystone/fernet-keys" "$R/keystone/credential-keys"
    auth() {  # auth SECTION USER
        cat <<EOF
[$1]
auth_url = $ks/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $SERVICE_PASS
region_name = RegionOne
EOF
    }
    cat >"$etc/keystone/keystone.conf" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = $db/keystone
[token]
provider = fernet
[fernet_tokens]
key_repository = $R/keystone/fernet-keys
[credential]
key_repository = $R/keystone/credential-keys
EOF
    {
        cat <<EOF
[DEFAULT]
use_stderr = true
[placement_database]
connection = $db/placement
[api]
auth_strategy = keystone
EOF
        auth keystone_authtoken placement
        echo "www_authenticate_uri = $ks"
    } >"$etc/placement/placement.conf"
    cp "$VENV/etc/nova/api-paste.ini" "$etc/nova/api-paste.ini"
    # Shared by every Nova service; no database URL in it.
    {
        cat <<EOF
[DEFAULT]
use_stderr = true
my_ip = 127.0.0.1
transport_url = rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/
compute_driver = aggregate_pci_fake.PciFakeDriver
state_path = $R/nova
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $etc/nova/api-paste.ini
[oslo_concurrency]
lock_path = $R/nova/lock
[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 0
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[filter_scheduler]
available_filters = nova.scheduler.filters.all_filters
available_filters = aggregate_pci.filter.AggregatePciFilter
enabled_filters = ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,AggregatePciFilter,NUMATopologyFilter,PciPassthroughFilter
# Nova's weighers and ours (tests/real_cloud/test_weigher.py); one line:
# a list option's second line would replace the first.
weight_classes = nova.scheduler.weights.all_weighers,aggregate_pci.weigher.AggregatePciWeigher
[pci]
alias = {"device_type": "type-PCI", "name": "a100", "product_id": "20b5", "vendor_id": "10de"}
alias = {"device_type": "type-PCI", "name": "t4", "product_id": "1eb8", "vendor_id": "10de"}
# gpu: either model (tests/real_cloud/test_moves.py narrows its PCI flavor
# to one model per aggregate, so Nova's greedy claim can stray).
alias = {"device_type": "type-PCI", "name": "gpu", "product_id": "20b5", "vendor_id": "10de"}
alias = {"device_type": "type-PCI", "name": "gpu", "product_id": "1eb8", "vendor_id": "10de"}
[aggregate_pci]
manage_port_requests = true
[glance]
api_servers = http://127.0.0.1:$GLANCE_PORT
EOF
        auth keystone_authtoken nova
        echo "www_authenticate_uri = $ks"
        auth placement placement
        auth neutron nova
        echo "endpoint_override = http://127.0.0.1:$NEUTRON_PORT"
    } >"$etc/nova/nova.conf"
    cat >"$etc/nova/nova-db.conf" <<EOF
[api_database]
connection = $db/nova_api
[database]
connection = $db/nova
EOF
    local n
    for n in 1 2; do
        mkdir -p "$R/compute$n/lock"
        cat >"$etc/nova/compute$n.conf" <<EOF
[DEFAULT]
host = compute$n
state_path = $R/compute$n
[oslo_concurrency]
lock_path = $R/compute$n/lock
[pci]
device_spec = {"vendor_id": "10de"}
device_spec = {"vendor_id": "15b3", "product_id": "101e", "physical_network": "physnet2"}
EOF
    done
    # compute1: two A100; compute2: one A100 and one T4 (same address 81:00.0
    # on both hosts, as real fleets have).
    dev() { printf '{"address": "%s", "vendor_id": "10de", "product_id": "%s", "dev_type": "type-PCI", "status": "available", "parent_addr": null, "numa_node": 0, "label": "label_10de_%s"}' "$1" "$2" "$2"; }
    # SR-IOV (tests/real_cloud/test_ports.py): ConnectX-5 VFs (15b3:101e) of a PF
    # at 0000:3b:00.0 (the PF itself is not listed), three on compute1, two
    # on compute2; device_spec tags them physnet2.
    vf() { printf '{"address": "0000:3b:00.%s", "vendor_id": "15b3", "product_id": "101e", "dev_type": "type-VF", "status": "available", "parent_addr": "0000:3b:00.0", "numa_node": 0, "label": "label_15b3_101e", "parent_ifname": "%s-ens3f0"}' "$1" "$2"; }
    echo "[$(dev 0000:81:00.0 20b5), $(dev 0000:82:00.0 20b5), $(vf 2 compute1), $(vf 3 compute1), $(vf 4 compute1)]" >"$R/compute1/fake_pci_devices.json"
    echo "[$(dev 0000:81:00.0 20b5), $(dev 0000:83:00.0 1eb8), $(vf 2 compute2), $(vf 3 compute2)]" >"$R/compute2/fake_pci_devices.json"
    mkdir -p "$R/nova/lock"

    umask 077
    cat >"$R/clouds.yaml" <<EOF
clouds:
  admin:
    auth:
      auth_url: $ks/v3
      username: admin
      password: $ADMIN_PASS
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  demo:
    auth:
      auth_url: $ks/v3
      username: demo
      password: $DEMO_PASS
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
EOF
    cat >"$R/cloud.env" <<EOF
export OS_CLIENT_CONFIG_FILE=$R/clouds.yaml
export PATH=$VENV/bin:\$PATH
export AGGREGATE_PCI_CLOUD=$R
export AGGREGATE_PCI_CLOUD_NOVA_CONF=$etc/nova/nova.conf
export AGGREGATE_PCI_CLOUD_NOVA_DB_CONF=$etc/nova/nova-db.conf
export AGGREGATE_PCI_CLOUD_DB_PORT=$DB_PORT
export AGGREGATE_PCI_CLOUD_IMAGE=5d0e6c8a-2d4e-4f8a-9a55-6c2b1c1f0a01
EOF
    # The conductor alone: a scheduling request the scheduler took and never
    # answered (killed: tests/real_cloud/test_faults.py) fails after this
    # many seconds without its heartbeat (select_destinations'
    # call_monitor_timeout) instead of Nova's 60.
    printf '[DEFAULT]\nrpc_response_timeout = 20\n' >"$etc/nova/conductor.conf"
    # A nova.conf with database access for `aggregate-pci capacity`.
    cat "$etc/nova/nova.conf" "$etc/nova/nova-db.conf" >"$etc/nova/nova-admin.conf"
    umask 022
}

start_rabbitmq() {
    local rb="$R/rabbit"
    mkdir -p "$rb/mnesia" "$rb/log"
    echo '[].' >"$rb/enabled_plugins"
    printf 'listeners.tcp.1 = 127.0.0.1:%s\nloopback_users.guest = true\n' "$RABBIT_PORT" \
        >"$rb/rabbitmq.conf"
    start epmd epmd -address 127.0.0.1 -port "$EPMD_PORT"
    wait_port epmd "$EPMD_PORT" 20
    start rabbitmq env HOME="$rb" RABBITMQ_NODENAME=rabbit@localhost \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$RABBIT_PORT" \
        RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$EPMD_PORT" \
        RABBITMQ_MNESIA_BASE="$rb/mnesia" RABBITMQ_LOG_BASE="$rb/log" \
        RABBITMQ_CONFIG_FILE="$rb/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$rb/enabled_plugins" \
        RABBITMQ_PID_FILE="$rb/rabbit.pid" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        /usr/lib/rabbitmq/bin/rabbitmq-server
}

start_mariadb() {
    local d="$R/mariadb"
    if [ ! -d "$d/data/mysql" ]; then
        mkdir -p "$d"
        mariadb-install-db --no-defaults --datadir="$d/data" --user=root \
            --auth-root-authentication-method=socket --skip-test-db >"$R/log/mariadb-install.log" 2>&1 \
            || { tail -n 20 "$R/log/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fi
    local bin=mariadbd; command -v mariadbd >/dev/null || bin=/usr/sbin/mariadbd
    start mariadb "$bin" --no-defaults --datadir="$d/data" --socket="$d/sock" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --pid-file="$d/mariadbd.pid" --skip-name-resolve --user=root \
        --max-connections=500 --innodb-buffer-pool-size=64M
}

sql() { mariadb --no-defaults --socket="$R/mariadb/sock" -uroot "$@"; }

create_databases() {
    local i
    for ((i = 0; i < 60; i++)); do sql -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
    sql -e 'select 1' >/dev/null || die "MariaDB does not answer on $R/mariadb/sock"
    # Password through stdin, not argv.
    sql <<EOF
CREATE DATABASE IF NOT EXISTS keystone; CREATE DATABASE IF NOT EXISTS placement;
CREATE DATABASE IF NOT EXISTS nova_api; CREATE DATABASE IF NOT EXISTS nova;
CREATE DATABASE IF NOT EXISTS nova_cell0; CREATE DATABASE IF NOT EXISTS pci_legacy;
CREATE USER IF NOT EXISTS 'cloud'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON *.* TO 'cloud'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

uwsgi_app() {  # uwsgi_app NAME PORT MODULE [ENV=VAL...]
    local name=$1 port=$2 module=$3; shift 3
    start "$name" env "$@" "$VENV/bin/uwsgi" --http-socket "127.0.0.1:$port" --module "$module" \
        --master --processes 1 --threads 4 --enable-threads --lazy-apps --die-on-term --need-app \
        --buffer-size 65535 --add-header "Connection: close"
}

do_up() {
    mkdir -p "$R/run" "$R/log"
    chmod 700 "$R"
    if alive nova-api; then log "already up in $R"; return 0; fi
    local t0=$SECONDS
    apt_install
    make_venv
    write_configs
    local sched_cf=() SCALE_PCI_NODES=0
    if [ "$SCALE_NODES" -gt 0 ]; then
        write_scale_configs
        sched_cf=(--config-file "$R/etc/nova/scheduler-scale.conf")
    fi
    local ncf=(--config-file "$R/etc/nova/nova.conf" --config-file "$R/etc/nova/nova-db.conf")
    local B="$VENV/bin"

    start_rabbitmq
    start_mariadb
    start stubs "$B/python" "$here/tools/cloud/stubs.py" "$GLANCE_PORT" "$NEUTRON_PORT" \
        "http://127.0.0.1:$KS_PORT"
    wait_port mariadb "$DB_PORT" 60
    create_databases
    log "databases created (+$((SECONDS - t0)) s)"

    # Schema syncs in the background while keystone comes up.
    (
        set -e
        "$B/placement-manage" --config-file "$R/etc/placement/placement.conf" db sync
        "$B/nova-manage" "${ncf[@]}" api_db sync
        "$B/nova-manage" "${ncf[@]}" cell_v2 map_cell0
        "$B/nova-manage" "${ncf[@]}" cell_v2 create_cell --name cell1 ||
            "$B/nova-manage" "${ncf[@]}" cell_v2 list_cells | grep -q cell1
        "$B/nova-manage" "${ncf[@]}" db sync
    ) >"$R/log/db-sync.log" 2>&1 &
    local sync_pid=$!

    local kcf=(--config-file "$R/etc/keystone/keystone.conf")
    {
        timeout 300 "$B/keystone-manage" "${kcf[@]}" db_sync
        "$B/keystone-manage" "${kcf[@]}" fernet_setup --keystone-user root --keystone-group root
        "$B/keystone-manage" "${kcf[@]}" credential_setup --keystone-user root --keystone-group root
        OS_BOOTSTRAP_PASSWORD=$ADMIN_PASS timeout 120 "$B/keystone-manage" "${kcf[@]}" bootstrap \
            --bootstrap-region-id RegionOne \
            --bootstrap-admin-url "http://127.0.0.1:$KS_PORT/v3/" \
            --bootstrap-internal-url "http://127.0.0.1:$KS_PORT/v3/" \
            --bootstrap-public-url "http://127.0.0.1:$KS_PORT/v3/"
    } >"$R/log/keystone-setup.log" 2>&1 || { tail -n 30 "$R/log/keystone-setup.log" >&2; die "keystone setup failed"; }
    uwsgi_app keystone "$KS_PORT" keystone.wsgi.api:application \
        OS_KEYSTONE_CONFIG_FILES="$R/etc/keystone/keystone.conf"
    wait_port keystone "$KS_PORT" 60
    wait_port rabbitmq "$RABBIT_PORT" 90
    log "keystone and rabbitmq up (+$((SECONDS - t0)) s)"

    # Service users, services, endpoints and a member-only user, in one
    # OpenStackClient process (its batch mode exits 1 at end of input: the
    # output is checked instead).
    local out
    out=$(OS_CLIENT_CONFIG_FILE="$R/clouds.yaml" OS_CLOUD=admin timeout 300 "$B/openstack" 2>&1 <<EOF || true
project create --domain default service -f value -c name
project create --domain default demo -f value -c name
user create --domain default --project service --password $SERVICE_PASS nova -f value -c name
user create --domain default --project service --password $SERVICE_PASS placement -f value -c name
user create --domain default --project demo --password $DEMO_PASS demo -f value -c name
role add --project service --user nova admin
role add --project service --user nova service
role add --project service --user placement admin
role add --project service --user placement service
role add --project demo --user demo member
service create --name nova compute -f value -c name
service create --name placement placement -f value -c name
service create --name glance image -f value -c name
service create --name neutron network -f value -c name
endpoint create --region RegionOne compute public http://127.0.0.1:$NOVA_PORT/v2.1 -f value -c interface
endpoint create --region RegionOne placement public http://127.0.0.1:$PL_PORT -f value -c interface
endpoint create --region RegionOne image public http://127.0.0.1:$GLANCE_PORT -f value -c interface
endpoint create --region RegionOne network public http://127.0.0.1:$NEUTRON_PORT -f value -c interface
endpoint list -f value -c "Service Name"
EOF
)
    echo "$out" >"$R/log/keystone-catalog.log"
    for s in nova placement glance neutron; do
        grep -qx "$s" <<<"$out" || { echo "$out" | tail -n 20 >&2; die "keystone catalog incomplete ($s)"; }
    done
    log "keystone catalog written (+$((SECONDS - t0)) s)"

    wait "$sync_pid" || { tail -n 30 "$R/log/db-sync.log" >&2; die "database sync failed"; }
    log "schemas synced (+$((SECONDS - t0)) s)"
    uwsgi_app placement "$PL_PORT" placement.wsgi.api:application \
        OS_PLACEMENT_CONFIG_DIR="$R/etc/placement"
    uwsgi_app nova-api "$NOVA_PORT" nova.wsgi.osapi_compute:application \
        OS_NOVA_CONFIG_DIR="$R/etc/nova" OS_NOVA_CONFIG_FILES="api-paste.ini;nova.conf;nova-db.conf"
    start conductor "$B/nova-conductor" "${ncf[@]}" --config-file "$R/etc/nova/conductor.conf"
    start scheduler "$B/nova-scheduler" "${ncf[@]}" "${sched_cf[@]}"
    wait_port placement "$PL_PORT" 60
    local n
    for n in 1 2; do
        start "compute$n" "$B/nova-compute" --config-file "$R/etc/nova/nova.conf" \
            --config-file "$R/etc/nova/compute$n.conf"
    done
    for ((n = 1; SCALE_NODES > 0 && n <= SCALE_HOSTS; n++)); do
        start "scale$n" "$B/nova-compute" --config-file "$R/etc/nova/nova.conf" \
            --config-file "$R/etc/nova/scale$n.conf"
    done
    wait_port nova-api "$NOVA_PORT" 90

    # Both computes registered with their PCI devices, then cell mapping.
    # "nodes with PCI devices/nodes"; scale nodes without devices count too.
    local i rows=0 want="$((2 + SCALE_PCI_NODES))/$((2 + SCALE_NODES))" tries=240
    [ "$SCALE_NODES" = 0 ] || tries=$((240 + SCALE_NODES * 4))
    for ((i = 0; i < tries; i++)); do
        rows=$(sql -N -e "select concat((select count(distinct compute_node_id) from nova.pci_devices where deleted = 0), '/', (select count(*) from nova.compute_nodes where deleted = 0))" 2>/dev/null || echo 0)
        [ "$rows" = "$want" ] && break
        for s in conductor scheduler compute1 compute2 $(scale_services); do
            alive "$s" || { tail -n 30 "$R/log/$s.log" >&2; die "$s exited (log: $R/log/$s.log)"; }
        done
        sleep 0.5
    done
    [ "$rows" = "$want" ] || die "compute nodes with PCI devices/all: $rows, not $want, after $((tries / 2)) s (see $R/log/compute*.log, scale*.log)"
    "$B/nova-manage" "${ncf[@]}" cell_v2 discover_hosts >"$R/log/discover-hosts.log" 2>&1 \
        || { cat "$R/log/discover-hosts.log" >&2; die "discover_hosts failed"; }
    log "up in $((SECONDS - t0)) s: . $R/cloud.env; openstack --os-cloud admin ..."
}

case "$action" in
    up)
        # set -e stays in force inside do_up (it would not under `do_up || ...`).
        trap 'rc=$?; if [ $rc != 0 ]; then log "up failed; stopping what was started"; do_down; fi' EXIT
        # A signal stops the step in flight and exits; the EXIT trap then
        # stops every service already started.
        trap '[ -z "$CHILD" ] || kill "$CHILD" 2>/dev/null; log "interrupted"; exit 143' TERM
        trap '[ -z "$CHILD" ] || kill "$CHILD" 2>/dev/null; log "interrupted"; exit 130' INT
        do_up
        trap - EXIT
        ;;
    down) do_down ;;
    status) do_status ;;
    restart) do_restart "$SERVICE" ;;
    *) echo "usage: $0 up|down|status DIR, or $0 restart NAME DIR" >&2; exit 2 ;;
esac
