#!/usr/bin/env bash
# Starts the services the integration tests use, where they are installed and
# not already listening, and waits until each answers. Safe to run again.
#   PostgreSQL 127.0.0.1:5432, MariaDB 127.0.0.1:3306, Redis 127.0.0.1:6379,
#   RabbitMQ 127.0.0.1:5672, NATS JetStream 127.0.0.1:4222.
# A service that is not installed is reported and left alone: its tests skip
# (or fail under CI=true).
set -u

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() { # name port command...
	local name=$1 port=$2
	shift 2
	if up "$port"; then
		echo "services: $name is up on :$port"
		return 0
	fi
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "services: $name is down and $1 is not installed; its tests will skip (fail under CI=true)"
		return 0
	fi
	echo "services: starting $name"
	"$@" >/dev/null 2>&1 || echo "services: starting $name returned $?"
}

wait_up() { # name port seconds
	local i
	for ((i = 0; i < $3 * 2; i++)); do
		up "$2" && return 0
		sleep 0.5
	done
	echo "services: $1 did not come up on :$2 within $3 s"
	return 1
}

if [ -d /etc/postgresql ]; then
	start postgresql 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	--dir /var/lib/redis --logfile /var/log/redis/ci.log
start rabbitmq 5672 rabbitmq-server -detached
mkdir -p /var/lib/nats-server 2>/dev/null
if up 4222; then
	echo "services: nats is up on :4222"
elif [ -x /usr/sbin/nats-server ]; then
	echo "services: starting nats"
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
		-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
if up 3306; then
	echo "services: mariadb is up on :3306"
elif [ -x /usr/sbin/mariadbd ]; then
	echo "services: starting mariadb"
	mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi

status=0
command -v pg_ctlcluster >/dev/null && { wait_up postgresql 5432 60 || status=1; }
command -v redis-server >/dev/null && { wait_up redis 6379 30 || status=1; }
command -v rabbitmq-server >/dev/null && { wait_up rabbitmq 5672 120 || status=1; }
[ -x /usr/sbin/nats-server ] && { wait_up nats 4222 30 || status=1; }
[ -x /usr/sbin/mariadbd ] && { wait_up mariadb 3306 60 || status=1; }
exit $status
