#!/bin/sh
# Leash's gate for Docker's MCP Gateway: a `before` interceptor for every tools/call.
#
#   docker mcp gateway run --transport=stdio \
#     --interceptor 'before:exec:/path/to/leash-interceptor.sh'
#
# The gateway writes the call as JSON on stdin ({"Params": {"name": ..., "arguments": ...}}) and
# forwards it when this prints nothing and exits 0; printed JSON is returned to the client as the
# tool's result instead. So: Leash allows -> nothing; Leash denies or wants an approval -> an
# isError result with Leash's reason; Leash unreachable -> an isError result (fail closed).
# Environment: LEASH_API_URL, LEASH_API_KEY (ingest scope), LEASH_PRINCIPAL (who the agent is;
# the role ARN its cloud credentials are ties its tool calls to its CloudTrail), optional
# LEASH_MCP_SERVER (names the source: tool:mcp:<server>). Needs curl and jq.
set -u
url="${LEASH_API_URL:-http://127.0.0.1:8000}"
call="$(cat)"
body="$(printf '%s' "$call" | jq -c --arg p "${LEASH_PRINCIPAL:-mcp-gateway}" \
  --arg s "tool:mcp:${LEASH_MCP_SERVER:-gateway}" \
  '(.Params // .params // {}) as $c
   | {principal: $p, source: $s, action: ($c.name // ""), arguments: ($c.arguments // {})}')" || {
  echo '{"content":[{"type":"text","text":"Leash interceptor: the call on stdin is not JSON"}],"isError":true}'
  exit 0
}
answer="$(curl -sS --max-time 5 -X POST "$url/v1/decide" \
  -H "Authorization: Bearer ${LEASH_API_KEY:-}" -H 'Content-Type: application/json' \
  --data "$body" 2>&1)" && verdict="$(printf '%s' "$answer" | jq -r '.decision // empty' 2>/dev/null)"
case "${verdict:-}" in
  allow) exit 0 ;;
  deny | require_approval)
    printf '%s' "$answer" | jq -c --arg url "$url" '{content: [{type: "text", text: (
      if .decision == "deny" then "Leash denied this call: \(.reason)"
      else "Leash requires approval: \(.reason). Approve \(.approval_id) in the Leash dashboard or POST \($url)/v1/approvals/\(.approval_id)/approve, then retry." end)}],
      isError: true}'
    ;;
  *)
    printf '%s' "$answer" | jq -Rsc --arg url "$url" '{content: [{type: "text",
      text: "Leash could not be asked at \($url) (\(. | .[0:200])): not run. Is `leash up` running?"}],
      isError: true}'
    ;;
esac
exit 0
