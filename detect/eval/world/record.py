"""The Emitter: builds CloudTrail records exactly shaped like S3-delivered log entries."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from .catalog import GLOBAL_SERVICES, Api, api
from .clock import iso
from .ids import b64_token, s3_request_id, uuid4

Rec = dict[str, Any]
_SUFFIX = re.compile(r"\d{8}(v\d)?$")
_EXC_STYLE = frozenset(
    {
        "secretsmanager",
        "ssm",
        "kms",
        "logs",
        "dynamodb",
        "ecs",
        "ecr",
        "guardduty",
        "config",
        "athena",
        "glue",
        "backup",
        "lambda",
        "sso",
        "securityhub",
        "events",
        "eic",
    }
)
_IAM_PREFIX = {
    "cloudwatch": "cloudwatch",
    "elb": "elasticloadbalancing",
    "eic": "ec2-instance-connect",
}
_V109 = frozenset({"cloudtrail", "secretsmanager", "guardduty", "sso", "eic", "config"})


@dataclass(frozen=True)
class Ident:
    """A caller context: the userIdentity block plus what goes with it in every record."""

    ui: dict[str, Any]
    key: str
    account: str
    console: bool = False
    via: str | None = None


def iam_action(a: Api) -> str:
    """Return the IAM action name ('lambda:UpdateFunctionCode') for an Api."""
    return f"{_IAM_PREFIX.get(a.service, a.service)}:{_SUFFIX.sub('', a.name)}"


def denied(a: Api, arn: str, target: str) -> tuple[str, str]:
    """Return (errorCode, errorMessage) for an authorisation failure."""
    act = iam_action(a)
    why = f"because no identity-based policy allows the {act} action"
    if a.service == "ec2":
        msg = (
            f"You are not authorized to perform this operation. User: {arn} is not "
            f"authorized to perform: {act} {why}. Encoded authorization failure message: ..."
        )
        return "Client.UnauthorizedOperation", msg
    if a.service == "s3":
        return "AccessDenied", "Access Denied"
    code = "AccessDeniedException" if a.service in _EXC_STYLE else "AccessDenied"
    on = f" on resource: {target}" if target else ""
    return code, f"User: {arn} is not authorized to perform: {act}{on} {why}"


def throttled(a: Api) -> tuple[str, str]:
    """Return (errorCode, errorMessage) for a throttled call."""
    if a.service == "ec2":
        return "Client.RequestLimitExceeded", "Request limit exceeded."
    if a.service == "s3":
        return "SlowDown", "Please reduce your request rate."
    if a.service in ("iam", "sts", "cloudformation", "autoscaling", "elb", "rds"):
        return "Throttling", "Rate exceeded"
    return "ThrottlingException", "Rate exceeded"


class Emitter:
    """Collects records with their epoch-ms times; finish() returns them sorted."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rows: list[tuple[int, int, Rec]] = []
        self._tls: dict[str, dict[str, str]] = {}

    def _host(self, a: Api, region: str, params: Any) -> str:
        if a.service == "s3":
            if isinstance(params, dict) and "bucketName" in params:
                return f"{params['bucketName']}.s3.{region}.amazonaws.com"
            return "s3.amazonaws.com"
        if a.service in GLOBAL_SERVICES:
            return a.source if a.service != "signin" else "signin.aws.amazon.com"
        return f"{a.source.split('.')[0]}.{region}.amazonaws.com"

    def _tls_for(self, host: str) -> dict[str, str]:
        hit = self._tls.get(host)
        if hit is None:
            v13 = self.rng.random() < 0.6
            hit = {
                "tlsVersion": "TLSv1.3" if v13 else "TLSv1.2",
                "cipherSuite": "TLS_AES_128_GCM_SHA256" if v13 else "ECDHE-RSA-AES128-GCM-SHA256",
                "clientProvidedHostHeader": host,
            }
            if len(self._tls) < 50_000:
                self._tls[host] = hit
        return hit

    def _s3_extra(self, a: Api) -> dict[str, Any]:
        r = self.rng.random()
        out = int(200 + r * 2_000_000) if a.read_only else 0
        return {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0 if a.read_only else int(r * 500_000),
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": b64_token(self.rng, 42),
            "bytesTransferredOut": out,
        }

    def call(
        self,
        t: int,
        who: Ident,
        key: str,
        region: str,
        ip: str,
        ua: str,
        *,
        params: Any = None,
        resp: Any = None,
        error: tuple[str, str] | None = None,
        resources: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
        event_type: str = "AwsApiCall",
        recipient: str | None = None,
        shared: str | None = None,
    ) -> Rec:
        """Append one record and return it."""
        a = api(key)
        if a.service in GLOBAL_SERVICES:
            region = "us-east-1"
        rng = self.rng
        rec: Rec = {
            "eventVersion": "1.09" if a.data or a.service in _V109 else "1.08",
            "userIdentity": who.ui,
            "eventTime": iso(t),
            "eventSource": a.source,
            "eventName": a.name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
        }
        if error is not None:
            if error[0]:
                rec["errorCode"] = error[0]
                resp = None
            rec["errorMessage"] = error[1]
        rec["requestParameters"] = params
        rec["responseElements"] = resp
        if a.service == "s3":
            rec["additionalEventData"] = self._s3_extra(a)
        if extra:
            rec["additionalEventData"] = extra
        rec["requestID"] = s3_request_id(rng) if a.service == "s3" else uuid4(rng)
        rec["eventID"] = uuid4(rng)
        rec["readOnly"] = a.read_only
        if resources:
            rec["resources"] = resources
        rec["eventType"] = event_type
        rec["managementEvent"] = not a.data
        rec["recipientAccountId"] = recipient or who.account
        if shared:
            rec["sharedEventID"] = shared
        rec["eventCategory"] = "Data" if a.data else "Management"
        if ip[:1].isdigit() and not ip.startswith("10.") and rng.random() < 0.94:
            rec["tlsDetails"] = self._tls_for(self._host(a, region, params))
        if who.console:
            rec["sessionCredentialFromConsole"] = "true"
        self.rows.append((t, len(self.rows), rec))
        return rec

    def service_event(
        self,
        t: int,
        account: str,
        host: str,
        source_key: str,
        region: str,
        details: dict[str, Any],
        *,
        extra: dict[str, Any] | None = None,
    ) -> Rec:
        """Append an AwsServiceEvent (no caller; the service acts on its own)."""
        ident = Ident({"accountId": account, "invokedBy": host}, host, account)
        rec = self.call(
            t, ident, source_key, region, host, host, extra=extra, event_type="AwsServiceEvent"
        )
        rec.pop("requestID", None)
        rec.pop("tlsDetails", None)
        if details:
            rec["serviceEventDetails"] = details
        return rec

    def finish(self) -> list[Rec]:
        """Return all records sorted by time (stable)."""
        self.rows.sort(key=lambda row: (row[0], row[1]))
        return [row[2] for row in self.rows]
