#!/bin/sh
# Send one alert to wxstream: the Zabbix media type script of the old Webex bot, unchanged
# in its arguments and JSON, but it exits non-zero and prints the response when the
# service does not accept the alert.
#
# Usage: wxstream-alert.sh SEND_TO SUBJECT [MESSAGE]
#   SEND_TO  a person's email (contains @) or a Webex room id
#
# Settings: the environment wins over the values below.
WXSTREAM_URL="${WXSTREAM_URL:-http://127.0.0.1:8080}"
WXSTREAM_API_TOKEN="${WXSTREAM_API_TOKEN:-}"
WXSTREAM_ALERT_TIMEOUT="${WXSTREAM_ALERT_TIMEOUT:-15}"

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    echo "usage: $0 SEND_TO SUBJECT [MESSAGE]" >&2
    exit 2
fi
if [ -z "$WXSTREAM_API_TOKEN" ]; then
    echo "$0: WXSTREAM_API_TOKEN is empty; set it in the environment or at the top of this script" >&2
    exit 2
fi

# Escape a string for a JSON string literal: backslash, quote and control characters.
# Lines are joined with \n escapes (a trailing line break is dropped). Bytes from 0x80 up
# pass through unchanged, so UTF-8 text stays as it is.
json_string() {
    printf '%s' "$1" | awk '
        BEGIN {
            ORS = ""
            for (i = 1; i < 32; i++) control[sprintf("%c", i)] = sprintf("\\u%04x", i)
            control["\t"] = "\\t"; control["\r"] = "\\r"
            control["\\"] = "\\\\"; control["\""] = "\\\""
        }
        {
            out = ""
            for (i = 1; i <= length($0); i++) {
                c = substr($0, i, 1)
                out = out ((c in control) ? control[c] : c)
            }
            print (NR > 1 ? "\\n" : "") out
        }'
}

body=$(printf '{"to": "%s", "subject": "%s", "message": "%s"}' \
    "$(json_string "$1")" "$(json_string "$2")" "$(json_string "${3:-}")")

response_file=$(mktemp) || exit 1
trap 'rm -f "$response_file"' EXIT

status=$(curl --silent --show-error --max-time "$WXSTREAM_ALERT_TIMEOUT" \
    --output "$response_file" --write-out '%{http_code}' \
    --header "Content-Type: application/json" \
    --header "Token: $WXSTREAM_API_TOKEN" \
    --data-binary "$body" \
    "$WXSTREAM_URL/api/v1/alert")
curl_exit=$?

if [ "$curl_exit" -ne 0 ]; then
    echo "$0: could not reach $WXSTREAM_URL (curl exit code $curl_exit)" >&2
    exit 1
fi
case "$status" in
    2??) exit 0 ;;
    *)
        echo "$0: $WXSTREAM_URL/api/v1/alert returned HTTP $status:" >&2
        cat "$response_file" >&2
        echo >&2
        exit 1
        ;;
esac
