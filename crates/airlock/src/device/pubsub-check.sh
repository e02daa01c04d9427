#!/usr/bin/env bash
# Airlock pubsub check for thing @THING_TEXT@, written by 'airlock device onboard'.
#
# Does what the AWS IoT Device SDK's pubsub.py sample does, over ONE MQTT connection with
# client id @THING_TEXT@: subscribe to a topic, publish a unique message to it, and wait for
# that message to come back. One connection, because the starter policy allows no other
# client id and a second client with the same id would take the first one's place.
#
# Usage: ./pubsub-check.sh [HOST [PORT]]   (defaults: @HOST_TEXT@ @PORT_TEXT@)
# Needs mosquitto_rr (Debian/Ubuntu: apt-get install mosquitto-clients).
# Exit code: 0 when the message came back, 1 when it did not, 2 when the check could not run.
set -u

case "${1:-}" in
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
esac

THING=@THING@
TOPIC=@TOPIC@
HOST=${1:-@HOST@}
PORT=${2:-@PORT@}

# Run from anywhere: the credentials sit next to this script.
cd "$(dirname "${BASH_SOURCE[0]}")" || { echo "FAILED: cannot enter the directory of $0" >&2; exit 2; }

if [ -z "$HOST" ] || [ -z "$PORT" ]; then
  echo "FAILED: no broker address known; run: $0 HOST PORT" >&2
  exit 2
fi
if ! command -v mosquitto_rr >/dev/null 2>&1; then
  echo "FAILED: mosquitto_rr is not installed (Debian/Ubuntu: sudo apt-get install mosquitto-clients)" >&2
  exit 2
fi
for f in root-ca.pem "$THING.cert.pem" "$THING.private.key"; do
  if [ ! -r "$f" ]; then
    echo "FAILED: $PWD/$f is missing or unreadable" >&2
    exit 2
  fi
done

MESSAGE="pubsub-check from $THING at $(date -u +%Y-%m-%dT%H:%M:%SZ) #$$-$RANDOM"
ERR=$(mktemp) || exit 2
trap 'rm -f "$ERR"' EXIT

echo "Connecting to $HOST:$PORT as client id $THING, publishing to $TOPIC and waiting for the message to come back..."
# mosquitto_rr (MQTT 5) subscribes to the -e topic, publishes the -m message to the -t topic
# once the subscription is granted, prints the first message that arrives and exits. With
# -t equal to -e that message is our own, so one connection both publishes and receives.
GOT=$(mosquitto_rr -h "$HOST" -p "$PORT" -i "$THING" \
  --cafile root-ca.pem --cert "$THING.cert.pem" --key "$THING.private.key" \
  -t "$TOPIC" -e "$TOPIC" -m "$MESSAGE" -q 1 -W 10 2>"$ERR")
RC=$?
CAUSE=$(tr '\n' ' ' <"$ERR")
if [ "$RC" -ne 0 ]; then
  case "$CAUSE" in
    *"Timed out"*)
      HINT="no message came back within 10 s: the broker took the connection but refused the subscription or the publish (or did not deliver); ask it why with: airlock policy test --thing $THING --client-id $THING --action iot:Subscribe --resource topicfilter/$TOPIC" ;;
    *[Nn]"ot authori"*)
      HINT="the broker refused the connection: is the certificate ACTIVE, and does its policy allow iot:Connect for client id $THING?" ;;
    *"refused"*|*"No route"*|*"unknown host"*|*"Lookup error"*)
      HINT="nothing answers at $HOST:$PORT: is 'airlock up' running, and is this its MQTT port (see endpoints.json)?" ;;
    *"certificate"*|*"TLS"*|*"tls"*|*"SSL"*|*"ssl"*)
      HINT="TLS failed: root-ca.pem must be the CA of this broker, and $HOST a name in its server certificate" ;;
    *)
      HINT="see mosquitto_rr's message above" ;;
  esac
  echo "FAILED: mosquitto_rr exited with status $RC: ${CAUSE:-(no message)}" >&2
  echo "  $HINT" >&2
  exit 1
fi
if [ "$GOT" != "$MESSAGE" ]; then
  echo "FAILED: received \"$GOT\" instead of the message sent (\"$MESSAGE\")" >&2
  echo "  probably a retained message on $TOPIC; clear it with mosquitto_pub (same options) -t $TOPIC -r -n" >&2
  exit 1
fi
echo "OK: the message published to $TOPIC came back over the same connection (client id $THING)."
exit 0
