#!/usr/bin/env bash
# The whole test suite, on SQLite and on MariaDB.
#   bash tests/run.sh            # everything
#   bash tests/run.sh -k queue   # extra arguments go to pytest
# The tests run in SYNCPAY_TEST_PROCESSES processes at once (pytest-xdist; default 3: most
# tests wait on sockets, subprocesses and timers, so 3 keep 2 cores busy); 1 runs them in
# this one process, as does any -n/-p no:xdist given here. Tests marked with one
# xdist_group (the private mariadbd servers) run on one process, one after another.
# Installs the package with its test extras, starts MariaDB when it does not answer,
# then runs pytest. Each run creates (and drops) a database of its own on MariaDB.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[test]'

db_host=${SYNCPAY_TEST_DB_HOST:-127.0.0.1}
db_port=${SYNCPAY_TEST_DB_PORT:-3306}
mariadb_up() {
    "$PYTHON" - "$db_host" "$db_port" <<'PY' >/dev/null 2>&1
import sys, pymysql
pymysql.connect(host=sys.argv[1], port=int(sys.argv[2]), user="root", connect_timeout=2).close()
PY
}
if ! mariadb_up; then
    if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
        echo "tests/run.sh: installing MariaDB" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
    fi
    echo "tests/run.sh: starting MariaDB" >&2
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do mariadb_up && break; sleep 0.5; done
    mariadb_up || { echo "tests/run.sh: MariaDB did not start" >&2; exit 1; }
fi

# The browser tests (tests/browser) drive the system Chromium through Playwright (from the
# test extra); never `playwright install`.
# promtool (Debian's prometheus package) lints the /metrics exposition in
# tests/web/test_metrics.py.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

processes=${SYNCPAY_TEST_PROCESSES:-3}
parallel=()
case " $* " in
    *" -n "* | *" -n="* | *" --numprocesses"* | *"no:xdist"*) ;;
    *) [ "$processes" -gt 1 ] && parallel=(-n "$processes" --dist loadgroup) ;;
esac
# A hanging test fails after setup.cfg's `timeout` (pytest-timeout) with its stack; the
# long experiments (SYNCPAY_LONG=1) may take longer than that, so they have no limit.
limit=()
[ "${SYNCPAY_LONG:-}" = "1" ] && limit=(--timeout 0)
exec "$PYTHON" -m pytest "${parallel[@]}" "${limit[@]}" "$@"
