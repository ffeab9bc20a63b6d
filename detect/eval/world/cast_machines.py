"""Sampling the non-human cast: AI agents, CI/CD roles and AWS service principals."""

from __future__ import annotations

import random

from .ids import unique_id
from .net import aws_ip, ip_in
from .org import Org
from .principal import Principal, Rhythm
from .useragents import agent_ua, boto3, go_sdk, js_sdk, lambda_ua

FRAMEWORKS = ("claude-code", "langchain", "mcp", "devin", "openai-agents", "crewai", "llamaindex")
# family -> (mix, session styles, envs, rhythm style)
AGENT_FAMILIES = {
    "coding-agent": ("coding-agent", ("claude", "agent-run", "devin"), ("dev", "staging")),
    "ops-agent": ("ops-agent", ("agent-run", "botocore", "stable:ops-agent"), ("prod", "staging")),
    "data-agent": ("data-agent", ("agent-run", "stable:data-agent"), ("prod",)),
    "retention-agent": ("retention", ("stable:retention-janitor", "agent-run"), ("dev", "staging")),
    "finops-agent": ("finops-agent", ("botocore", "agent-run"), ("dev", "staging", "prod")),
}


def _role(
    org: Org,
    rng: random.Random,
    *,
    key_env: str,
    name: str,
    kind: str,
    family: str,
    auth: str,
    session: str,
    mix: str,
    rhythm: Rhythm,
    uas: tuple[str, ...],
    envs: tuple[str, ...],
    apps: tuple[str, ...],
    desc: str,
    ips: tuple[str, ...] = (),
    ip_mode: str = "stable",
    launcher: str = "",
    path: str = "",
) -> Principal:
    acct = org.account_of(key_env)
    return Principal(
        key=f"arn:aws:iam::{acct}:role/{path}{name}",
        kind=kind,
        family=family,
        description=desc,
        account=acct,
        auth=auth,
        name=name,
        pid=unique_id(rng, "AROA"),
        session=session,
        rhythm=rhythm,
        mix=mix,
        uas=uas,
        regions=org.regions,
        envs=envs,
        apps=apps,
        ips=ips,
        ip_mode=ip_mode,
        launcher=launcher,
        role_path=path,
        error_rate=rng.uniform(0.002, 0.03),
        mfa=False,
    )


def agent(rng: random.Random, org: Org, family: str, launchers: list[str]) -> Principal:
    """Sample one AI agent principal."""
    mix, styles, envs = AGENT_FAMILIES[family]
    fw = rng.choice(FRAMEWORKS)
    app = rng.choice(org.apps)
    name = rng.choice((f"{family}", f"{app}-{family}", f"ai-{family.split('-')[0]}-{fw}"))
    if family == "retention-agent":
        rhythm = Rhythm(
            "scheduled",
            1.0,
            sched_hours=tuple(sorted(rng.sample(range(24), 2))),
            burst=0.1,
            weekend=1.0,
        )
    elif family in ("ops-agent", "finops-agent"):
        rhythm = Rhythm(
            "runs",
            1.0,
            start_h=0.0,
            end_h=24.0,
            weekend=0.8,
            sessions=rng.uniform(8, 40),
            burst=0.8,
        )
    else:
        rhythm = Rhythm(
            "runs",
            1.0,
            start_h=rng.uniform(8, 10),
            end_h=rng.uniform(17, 21),
            weekend=rng.choice((0.0, 0.1, 0.3)),
            sessions=rng.uniform(3, 15),
            burst=0.9,
        )
    on_laptop = family == "coding-agent" and launchers and rng.random() < 0.6
    launcher = rng.choice(launchers) if on_laptop else "ecs-tasks.amazonaws.com"
    ips = (ip_in(rng, org.country.blocks),) if on_laptop else (aws_ip(rng), aws_ip(rng))
    return _role(
        org,
        rng,
        key_env=envs[0],
        name=name,
        kind="agent",
        family=family,
        auth="role",
        session=rng.choice(styles),
        mix=mix,
        rhythm=rhythm,
        uas=(agent_ua(rng, fw),),
        envs=envs,
        apps=tuple(rng.sample(org.apps, 2)),
        desc=f"{family} built on {fw}",
        ips=ips,
        launcher=launcher,
    )


def ci_roles(rng: random.Random, org: Org, n: int) -> list[Principal]:
    """GitHub Actions OIDC roles: deploy roles per app plus CI-agent roles."""
    out = []
    for i, app in enumerate(rng.sample(org.apps, min(n, len(org.apps)))):
        deploy = i % 3 != 2
        fam = "gha-deploy" if deploy else "gha-ci-agent"
        rhythm = Rhythm(
            "jobs",
            1.0,
            start_h=rng.uniform(7, 10),
            end_h=rng.uniform(18, 23),
            weekend=0.2,
            sessions=rng.uniform(4, 25),
            burst=0.7,
            sched_hours=(rng.uniform(0, 5),),
        )
        out.append(
            _role(
                org,
                rng,
                key_env="prod" if deploy else "dev",
                name=f"gha-{app}-{'deploy' if deploy else 'ci-agent'}",
                kind="ci",
                family=fam,
                auth="oidc",
                session=rng.choice(("github", "gh-runid")),
                mix=fam,
                rhythm=rhythm,
                uas=(boto3(rng), js_sdk(rng)),
                envs=("prod", "staging", "dev") if deploy else ("dev", "staging"),
                apps=(app,),
                desc=f"GitHub Actions {fam} for {app}",
                ip_mode="runner",
            )
        )
    return out


def _lambda_role(rng: random.Random, org: Org, env: str, app: str, rhythm: Rhythm) -> Principal:
    fn = f"{env}-{app}-{rng.choice(('handler', 'worker', 'sync', 'webhook', 'ingest'))}"
    ua = lambda_ua(rng, rng.choice(("python3.11", "python3.12", "nodejs20.x")))
    return _role(org, rng, key_env=env, name=f"{fn}-role", kind="service", family="lambda",
                 auth="lambda", session="function", mix="lambda-app", rhythm=rhythm, uas=(ua,),
                 envs=(env,), apps=(app,), desc=f"Lambda {fn}", ip_mode="aws",
                 path="service-role/")  # fmt: skip


def _task_role(rng: random.Random, org: Org, env: str, app: str, rhythm: Rhythm) -> Principal:
    ua = boto3(rng, "AWS_ECS_FARGATE")
    return _role(org, rng, key_env=env, name=f"{env}-{app}-task", kind="service",
                 family="ecs-task", auth="ecs", session="task", mix="ecs-app", rhythm=rhythm,
                 uas=(ua,), envs=(env,), apps=(app,), desc=f"ECS task role {env}-{app}",
                 ips=(aws_ip(rng),))  # fmt: skip


def _instance_role(rng: random.Random, org: Org, env: str, app: str, rhythm: Rhythm) -> Principal:
    uas = (go_sdk(rng, "amazon-ssm-agent/3.3.40.0"), go_sdk(rng, "ecs-agent/1.82.0"),
           go_sdk(rng, "CWAgent/1.300032.2"))  # fmt: skip
    return _role(org, rng, key_env=env, name=f"{env}-{app}-instance", kind="service",
                 family="ec2-profile", auth="ec2", session=f"stable:i-0{rng.getrandbits(64):016x}",
                 mix="ec2-host", rhythm=rhythm, uas=uas, envs=(env,), apps=(app,),
                 desc=f"EC2 instances {env}-{app}", ips=(aws_ip(rng),))  # fmt: skip


def workloads(rng: random.Random, org: Org, n: int) -> list[Principal]:
    """Lambda, ECS task and EC2 instance-profile roles of the applications."""
    makers = (_lambda_role, _task_role, _instance_role)
    out = []
    for _ in range(n):
        app, env = rng.choice(org.apps), rng.choice(("prod", "prod", "staging"))
        make = rng.choices(makers, weights=(5, 3, 2))[0]
        steady = Rhythm("steady", 1.0, weekend=rng.uniform(0.4, 1.0), burst=rng.uniform(0.0, 0.6))
        out.append(make(rng, org, env, app, steady))
    return out
