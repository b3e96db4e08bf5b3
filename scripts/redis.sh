# Sourced by test.sh: a throwaway Redis server on 127.0.0.1, from Debian's packages, for the tests
# that use Redis as the task broker. Sets GATEHOUSE_TEST_REDIS_URL. Stopped when the shell exits
# (each script adds its stop command to gatehouse_on_exit; one EXIT trap runs them all).
redis_port="${REDIS_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
if ! command -v redis-server >/dev/null 2>&1; then
  echo "Installing Redis from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
redis_dir=$(mktemp -d /tmp/gatehouse-redis.XXXXXX)
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$redis_dir" --save "" --appendonly no \
  --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
gatehouse_on_exit+=("kill \$(cat '$redis_dir/redis.pid') 2>/dev/null || true")
trap 'for command in "${gatehouse_on_exit[@]}"; do eval "$command"; done' EXIT
export GATEHOUSE_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
