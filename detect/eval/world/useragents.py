"""User-agent strings for CLIs, SDKs, browsers, consoles, agents, CI and AWS-internal callers."""

from __future__ import annotations

import random

_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
BROWSERS: tuple[str, ...] = (
    _MAC + "Chrome/124.0.0.0 Safari/537.36",
    _WIN + "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    _SAFARI,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
)

S3_CONSOLE = (
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.{v} Linux/5.10.219-186.866.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.412-b09 java/1.8.0_412 vendor/Oracle_Corporation "
    "cfg/retry-mode/standard]"
)
OSES = ("linux#6.5.0-1022-aws", "macos#23.5.0", "windows#10", "linux#5.15.0-113-generic")


def cli(rng: random.Random, command: str = "") -> str:
    """Return an aws-cli v2 user agent."""
    minor = rng.randrange(13, 23)
    tail = f" md/command#{command}" if command else ""
    return (
        f"aws-cli/2.{minor}.{rng.randrange(0, 40)} md/awscrt#0.{rng.randrange(19, 23)}.1 ua/2.0 "
        f"os/{rng.choice(OSES)} md/arch#x86_64 lang/python#3.11.{rng.randrange(6, 10)} "
        f"md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe{tail}"
    )


def boto3(rng: random.Random, env: str = "", extra: str = "") -> str:
    """Return a Boto3 user agent, optionally with exec-env and a trailing framework tag."""
    v = rng.randrange(28, 36)
    exec_env = f" exec-env/{env}" if env else ""
    tail = f" {extra}" if extra else ""
    return (
        f"Boto3/1.{v}.{rng.randrange(0, 90)} md/Botocore#1.{v}.{rng.randrange(0, 90)} ua/2.0 "
        f"os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython{exec_env} "
        f"cfg/retry-mode#legacy Botocore/1.{v}.{rng.randrange(0, 90)}{tail}"
    )


def terraform(rng: random.Random) -> str:
    """Return a Terraform AWS provider user agent."""
    return (
        f"APN/1.0 HashiCorp/1.0 Terraform/1.{rng.randrange(5, 10)}.{rng.randrange(0, 6)} "
        f"(+https://www.terraform.io) terraform-provider-aws/5.{rng.randrange(30, 70)}.0 "
        "(+https://registry.terraform.io/providers/hashicorp/aws) "
        f"aws-sdk-go-v2/1.30.{rng.randrange(0, 5)} "
        "ua/2.0 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.171.0"
    )


def go_sdk(rng: random.Random, tail: str) -> str:
    """Return an aws-sdk-go user agent with an agent suffix (ssm-agent, ecs-agent...)."""
    go = f"(go1.21.{rng.randrange(1, 12)}; linux; amd64)"
    return f"aws-sdk-go/1.{rng.randrange(44, 55)}.{rng.randrange(0, 300)} {go} {tail}"


def js_sdk(rng: random.Random, tail: str = "") -> str:
    """Return an aws-sdk-js v3 user agent."""
    extra = f" {tail}" if tail else ""
    return (
        f"aws-sdk-js/3.{rng.randrange(500, 650)}.0 ua/2.1 os/linux#6.1 lang/js "
        f"md/nodejs#20.{rng.randrange(10, 18)}.0 api/sts#3.600.0 m/E{extra}"
    )


def agent_ua(rng: random.Random, framework: str) -> str:
    """Return a user agent for an AI agent built on the named framework."""
    if framework == "claude-code":
        return f"claude-code/1.0.{rng.randrange(20, 90)} " + boto3(rng)
    if framework == "mcp":
        return js_sdk(rng, "mcp-server-aws/0.3.1")
    if framework == "devin":
        return boto3(rng, "", "devin-agent/2024.11")
    if framework == "openai-agents":
        return boto3(rng, "AWS_ECS_FARGATE", "openai-agents/0.0.7")
    return boto3(rng, "AWS_ECS_FARGATE", f"{framework}/0.2.{rng.randrange(0, 16)}")


def lambda_ua(rng: random.Random, runtime: str) -> str:
    """Return the SDK user agent a Lambda function runtime uses."""
    if runtime.startswith("nodejs"):
        return js_sdk(rng, f"exec-env/AWS_Lambda_{runtime}")
    return boto3(rng, f"AWS_Lambda_{runtime}")


def gha_ua(rng: random.Random) -> str:
    """Return the user agent of aws-actions/configure-aws-credentials."""
    return js_sdk(rng, "configure-aws-credentials-for-github-actions")


HOSTILE: tuple[str, ...] = (
    "python-requests/2.31.0",
    "Boto3/1.9.253 Python/3.8.10 Linux/5.15.0-kali3-amd64 Botocore/1.12.253",
    "aws-cli/1.18.69 Python/2.7.18 Linux/5.10.0-kali7-amd64 botocore/1.16.19",
    "Boto3/1.26.0 Python/3.10.12 Linux/6.2.0 Botocore/1.29.0 Pacu/1.5.3",
    "aws-sdk-go/1.44.0 (go1.20; linux; amd64) S3Scanner",
    "curl/8.4.0",
    _WIN + "Chrome/118.0.0.0 Safari/537.36",
)
