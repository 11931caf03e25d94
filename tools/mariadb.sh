#!/usr/bin/env bash
# A throwaway MariaDB server on loopback for the migration tests.
#   tools/mariadb.sh start DIR [PORT]   initialise DIR, start, print the URL
#   tools/mariadb.sh stop DIR           shut down the server of DIR (its socket
#                                       or pid file; a PORT argument is ignored)
# The URL printed is what AGGREGATE_PCI_TEST_MYSQL_URL expects:
#   mysql+pymysql://root@127.0.0.1:PORT/
set -euo pipefail
cmd=${1:?usage: mariadb.sh start|stop DIR [PORT]}
dir=${2:?usage: mariadb.sh start|stop DIR [PORT]}
port=${3:-33306}
user_args=()
[ "$(id -u)" = 0 ] && user_args=(--user=root)

case "$cmd" in
start)
    command -v mariadbd >/dev/null || PATH=$PATH:/usr/sbin
    command -v mariadbd >/dev/null || {
        echo "mariadbd not found: install Debian's mariadb-server" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ ! -d "$dir/data/mysql" ]; then
        mariadb-install-db --datadir="$dir/data" \
            --auth-root-authentication-method=normal "${user_args[@]}" \
            >"$dir/install.log" 2>&1
    fi
    mariadbd --datadir="$dir/data" --socket="$dir/sock" --port="$port" \
        --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/pid" \
        "${user_args[@]}" >"$dir/server.log" 2>&1 &
    for _ in $(seq 1 60); do
        if mariadb-admin -h127.0.0.1 -P"$port" -uroot status >/dev/null 2>&1; then
            echo "mysql+pymysql://root@127.0.0.1:$port/"
            exit 0
        fi
        sleep 0.5
    done
    echo "MariaDB did not answer on 127.0.0.1:$port; see $dir/server.log" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
    ;;
stop)
    # Stop the server of DIR (its socket, else its pid file), never whatever
    # listens on a port: another server may be there.
    mariadb-admin --socket="$dir/sock" -uroot shutdown 2>/dev/null || {
        [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true; }
    ;;
*)
    echo "usage: mariadb.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
