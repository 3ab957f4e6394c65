#!/usr/bin/env bash
# Apache Kafka in KRaft mode from its Maven jars, without Docker, for the real-Kafka test suite.
#
#   scripts/kafka.sh fetch                 jars into the cache (once per machine; idempotent)
#   scripts/kafka.sh start [--brokers N]   N=1: one combined broker+controller; N=3: three combined nodes
#                                          with a controller quorum of 3. Prints the bootstrap address
#                                          (127.0.0.1:PORT[,...]) as its last line; the cluster keeps running.
#   scripts/kafka.sh stop [--name NAME]    stops what start started (by PID)
#   scripts/kafka.sh class CLASS ARGS...   runs a class from the Kafka jars (console producer, delete-records)
#   scripts/kafka.sh restart-node --name NAME ID   starts one stopped node of a cluster again
#   scripts/kafka.sh classpath             prints the classpath of the jars
#
# --name NAME (default: the broker count) lets several clusters run at once: "start --brokers 3 --name c3".
# Environment: KAFKA_VERSION (4.4.0), DEPTHCAST_KAFKA_CACHE (jar cache), DEPTHCAST_KAFKA_RUN (state:
# data dirs, logs, PIDs), KAFKA_HEAP (-Xmx384m per node). Only Maven artifacts are downloaded.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
CACHE="${DEPTHCAST_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/depthcast/kafka-$KAFKA_VERSION}"
RUN="${DEPTHCAST_KAFKA_RUN:-${TMPDIR:-/tmp}/depthcast-kafka}"
HEAP="${KAFKA_HEAP:--Xmx384m -Xms128m}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
  if [ -f "$CACHE/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found (Maven is needed to fetch the Kafka jars)"
  command -v java >/dev/null || die "java not found (Kafka needs Java 17 or later)"
  mkdir -p "$CACHE"
  local pom; pom="$(mktemp -d)/pom.xml"
  cat >"$pom" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>depthcast</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-server</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  echo "kafka.sh: fetching Apache Kafka $KAFKA_VERSION jars into $CACHE" >&2
  local status=0
  mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$CACHE/libs" >&2 || status=$?
  rm -rf "$(dirname "$pom")"
  [ "$status" -eq 0 ] || die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
  cat >"$CACHE/log4j2.xml" <<'LOG'
<Configuration status="WARN">
  <Appenders><Console name="STDOUT"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Root level="WARN"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
LOG
  touch "$CACHE/.complete"
}

classpath() { echo "$CACHE/libs/*"; }

java_class() { # CLASS ARGS...
  fetch
  exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$CACHE/log4j2.xml" \
    -cp "$(classpath)" "$@"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local n=1 name=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --brokers) n="$2"; shift 2;;
      --name) name="$2"; shift 2;;
      *) die "start: unknown argument $1";;
    esac
  done
  case "$n" in 1|3) ;; *) die "start: --brokers is 1 or 3";; esac
  name="${name:-c$n}"
  fetch
  local dir="$RUN/$name"
  if [ -f "$dir/bootstrap" ] && all_alive "$dir"; then
    echo "kafka.sh: cluster $name already running" >&2
    cat "$dir/bootstrap"; return 0
  fi
  stop_dir "$dir"
  rm -rf "$dir"; mkdir -p "$dir"
  local i ports=() cports=() voters="" bootstrap=""
  for i in $(seq 1 "$n"); do ports+=("$(free_port)"); cports+=("$(free_port)"); done
  for i in $(seq 1 "$n"); do
    voters+="${voters:+,}$i@127.0.0.1:${cports[$((i-1))]}"
    bootstrap+="${bootstrap:+,}127.0.0.1:${ports[$((i-1))]}"
  done
  local rf=1; [ "$n" = 3 ] && rf=3
  local isr=1; [ "$n" = 3 ] && isr=2
  local cluster_id
  cluster_id="$(java -cp "$(classpath)" -Dlog4j2.configurationFile="$CACHE/log4j2.xml" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  [ -n "$cluster_id" ] || die "could not make a cluster id"
  for i in $(seq 1 "$n"); do
    local nd="$dir/node$i"
    mkdir -p "$nd/data"
    cat >"$nd/server.properties" <<PROP
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[$((i-1))]},CONTROLLER://127.0.0.1:${cports[$((i-1))]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[$((i-1))]},CONTROLLER://127.0.0.1:${cports[$((i-1))]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$nd/data
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.enable=true
log.cleaner.threads=1
log.segment.bytes=16777216
unclean.leader.election.enable=false
controlled.shutdown.enable=true
PROP
    java -cp "$(classpath)" -Dlog4j2.configurationFile="$CACHE/log4j2.xml" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$nd/server.properties" >"$nd/format.log" 2>&1 || { cat "$nd/format.log" >&2; die "format failed"; }
    start_node "$nd"
  done
  echo "$bootstrap" >"$dir/bootstrap"
  wait_ready "$dir" "$bootstrap" "$n"
  cat "$dir/bootstrap"
}

start_node() { # NODEDIR: (re)starts one node from its server.properties
  local nd="$1"
  # shellcheck disable=SC2086
  nohup java $HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=2 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CACHE/log4j2.xml" -cp "$(classpath)" kafka.Kafka "$nd/server.properties" \
    >>"$nd/kafka.log" 2>&1 </dev/null &
  echo $! >"$nd/pid"
}

all_alive() {
  local p
  for p in "$1"/node*/pid; do [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null || return 1; done
}

wait_ready() { # DIR BOOTSTRAP N: until every broker is registered and answers metadata
  local dir="$1" bootstrap="$2" n="$3" deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-180}))
  while [ $SECONDS -lt $deadline ]; do
    all_alive "$dir" || { tail -n 40 "$dir"/node*/kafka.log >&2; die "a broker exited while starting"; }
    local out
    if out="$(java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$CACHE/log4j2.xml" \
      -cp "$(classpath)" org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$bootstrap" 2>/dev/null)"; then
      if [ "$(grep -c ' (id: ' <<<"$out")" -ge "$n" ]; then return 0; fi
    fi
    sleep 1
  done
  tail -n 40 "$dir"/node*/kafka.log >&2
  die "cluster at $bootstrap did not answer within ${KAFKA_START_TIMEOUT:-180}s"
}

stop_dir() {
  local dir="$1" p pid
  [ -d "$dir" ] || return 0
  for p in "$dir"/node*/pid; do
    [ -f "$p" ] || continue
    pid="$(cat "$p")"
    kill "$pid" 2>/dev/null || true
  done
  for p in "$dir"/node*/pid; do
    [ -f "$p" ] || continue
    pid="$(cat "$p")"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$p"
  done
}

stop() {
  local name=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) name="$2"; shift 2;;
      --brokers) name="c$2"; shift 2;;
      *) die "stop: unknown argument $1";;
    esac
  done
  if [ -n "$name" ]; then stop_dir "$RUN/$name"; rm -rf "${RUN:?}/$name"; return 0; fi
  local d
  for d in "$RUN"/*/; do [ -d "$d" ] && stop_dir "${d%/}" && rm -rf "${d%/}"; done
  return 0
}

cmd="${1:-}"; shift || true
case "$cmd" in
  fetch) fetch;;
  start) start "$@";;
  stop) stop "$@";;
  class) java_class "$@";;
  classpath) fetch; classpath;;
  restart-node) # --name NAME ID: starts node ID of a cluster again (after a kill) and waits until all answer
    [ "${1:-}" = "--name" ] || die "restart-node --name NAME ID"
    d="$RUN/$2"; nd="$d/node$3"; [ -f "$nd/server.properties" ] || die "no node $3 in $2"
    if ! { [ -f "$nd/pid" ] && kill -0 "$(cat "$nd/pid")" 2>/dev/null; }; then start_node "$nd"; fi
    wait_ready "$d" "$(cat "$d/bootstrap")" "$(ls -d "$d"/node* | wc -l)";;
  *) die "usage: kafka.sh fetch | start [--brokers 1|3] [--name N] | stop [--name N] | class CLASS ARGS... | classpath";;
esac
