"""An AI agent's tool call -> action class, with its arguments summarised and secrets redacted.

Agents act through tools: a shell, file edits, MCP servers, database tools. The gate and the
event model classify a tool call as they classify a CloudTrail call -- read, write, destructive,
privilege, defense_evasion -- from the packaged `tools.yml` (see its header): shell commands by
pattern (an `aws ...` command through actions.csv itself), SQL in any string argument, file paths
a file tool writes, and otherwise the verb of the tool's own name. `redact` removes secrets
(keys, tokens, passwords, private keys) from anything Leash keeps of the arguments: the summary
is what decisions, approvals and events store, never the raw arguments.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml

from ingest.catalogue import ACTION_CLASSES, Catalogue, default_catalogue

__all__ = [
    "TOOL_SOURCE",
    "ToolCall",
    "ToolCatalogue",
    "is_tool_source",
    "redact",
    "redact_arguments",
    "tool_catalogue",
]

TOOL_SOURCE = "tool"  # the source of a tool call: "tool", or "tool:<runtime>" (tool:claude-code)
SUMMARY_MAX = 300  # characters of redacted arguments kept
MAX_TEXT = 64 * 1024  # characters of one argument looked at (a huge file body is not a command)
COMMAND_MAX = 4096  # characters of one command of a shell line matched against the patterns
MAX_COMMANDS = 256  # commands of one shell line looked at
_SEGMENTS = re.compile(r"\|\||&&|[;|\n]")
_WRAPPERS = re.compile(r"^\s*(?:sudo(?:\s+-\S+)*|env(?:\s+\w+=\S*)*|time|nohup|exec|xargs)\s+")
_NESTED = re.compile(r"""\b(?:ba|z|da)?sh\s+-l?c\s+(['"])(?P<inner>.*?)\1""", re.S)
_AWS_VALUE_OPTIONS = frozenset(
    {"--profile", "--region", "--output", "--endpoint-url", "--query", "--color", "--ca-bundle"}
)
_CLI_SERVICES = {"s3api": "s3", "elbv2": "elasticloadbalancing", "stepfunctions": "states"}
_S3_HIGH_LEVEL = {"ls": "read", "cp": "write", "sync": "write", "mb": "write", "presign": "read"}
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_PATH_KEYS = ("file_path", "path", "notebook_path", "filename", "target_file")
_COMMAND_KEYS = ("command", "cmd", "script", "commands")
_CONTENT_KEYS = frozenset({"content", "file_text", "new_string", "old_string", "edits", "patch"})

# Secrets, replaced by [redacted] wherever arguments are kept. Each pattern's first group (if
# any) is kept: the name of what was hidden. Every repetition that can backtrack is bounded, so
# a pattern costs a bounded amount per character (the arguments are an agent's, or anyone's
# with an ingest key).
_SECRET_WORDS = (
    r"(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?"
    r"|client[_-]?secret)"
)
_VALUE = r"(?:\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|[^\s,;}&\"']{1,4096})"
_PEM = r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----.*?(?:-----END [A-Z ]{0,40}PRIVATE KEY-----|$)"
_AUTH = r"(?i)(authorization[\"']?\s{0,8}[:=]\s{0,8}[\"']?(?:bearer|basic|token)\s{1,8})"
_SECRETS = tuple(
    re.compile(p, f)
    for p, f in (
        (_PEM, re.S),
        (r"\b((?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{4})[A-Z0-9]{12}\b", 0),
        (r"(://)[^/\s:@]{1,256}:[^/\s@]{1,256}(?=@)", 0),
        (_AUTH + r"[^\s\"']+", 0),
        (r"(?i)(\bbearer\s{1,8})[A-Za-z0-9._~+/=-]{8,}", 0),
        # a flag naming a secret: its value, whatever it looks like (--password hunter)
        (
            rf"(?i)((?<![\w.-])--?[\w.-]{{0,40}}?{_SECRET_WORDS}[\w.-]{{0,40}}(?:=|\s{{1,8}})){_VALUE}",
            0,
        ),  # noqa: E501
        # an assignment or a JSON / YAML field naming a secret (DB_PASSWORD=..., "token": "...")
        (
            rf"(?i)((?<![\w.-])[\w.-]{{0,40}}?{_SECRET_WORDS}[\w.-]{{0,40}}[\"']?\s{{0,8}}[=:]\s{{0,8}}){_VALUE}",
            0,
        ),  # noqa: E501
        (r"(\bmysql(?:dump|admin)?\b[^|;&\n]{0,300}?\s-p)[^\s]{1,256}", 0),
        (r"((?:\s-u|--user)\s{1,8}[^\s:]{1,128}:)[^\s]{1,256}", 0),
        (r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}", 0),
        (r"\b(sk-(?:proj-|ant-)?)[A-Za-z0-9_-]{16,}", 0),
        (r"\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{10,}", 0),
        (r"\b(xox[abposr]-)[A-Za-z0-9-]{10,}", 0),
        (r"\b(AIza)[0-9A-Za-z_-]{35}\b", 0),
        (r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}", 0),
    )
)
_SECRET_KEY = re.compile(rf"(?i){_SECRET_WORDS}|authorization|cookie")


def redact(text: str) -> str:
    """`text` with every secret the patterns above recognise replaced by [redacted]."""
    for pattern in _SECRETS:
        text = pattern.sub(_keep_name, text)
    return text


def redact_arguments(value: Any, depth: int = 0) -> Any:
    """Arguments as Leash keeps them: every string redacted and cut at MAX_TEXT, the value of a
    key that names a secret ("password", "apiKey", "Authorization") hidden whatever it is, and
    what a file tool writes only measured."""
    if isinstance(value, str):
        return redact(value[:MAX_TEXT])
    if depth >= 6:
        return "..."
    if isinstance(value, Mapping):
        kept: dict[str, Any] = {}
        for key, item in list(value.items())[:64]:
            name = str(key)
            if name in _CONTENT_KEYS:
                size = len(item) if isinstance(item, str | list | dict) else 0
                kept[name] = f"<{size} chars>"
            elif _SECRET_KEY.search(name) and item not in (None, ""):
                kept[name] = "[redacted]"
            else:
                kept[name] = redact_arguments(item, depth + 1)
        return kept
    if isinstance(value, list | tuple):
        return [redact_arguments(v, depth + 1) for v in value[:64]]
    return value if value is None or isinstance(value, bool | int | float) else str(value)[:64]


def _keep_name(match: re.Match[str]) -> str:
    kept = match.group(1) if match.re.groups and match.group(1) else ""
    return f"{kept}[redacted]"


def is_tool_source(source: str) -> bool:
    """Whether a decide request's or event's `source` says it is a tool call."""
    return source == TOOL_SOURCE or source.startswith(TOOL_SOURCE + ":")


@dataclass(frozen=True)
class ToolCall:
    """What Leash keeps of a tool call: its class, why, and redacted targets and summary."""

    action_class: str
    because: str  # the pattern, name verb or file glob that decided ("" for the default)
    summary: str  # redacted, at most SUMMARY_MAX characters
    resources: tuple[str, ...]  # the command ("cmd: ...") or file path, redacted
    digest: str = ""  # of the whole arguments: an approval is for exactly these


@dataclass(frozen=True)
class _Patterns:
    by_class: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]  # most severe first

    def match(self, text: str) -> tuple[str, str] | None:
        for cls, patterns in self.by_class:
            for pattern in patterns:
                if pattern.search(text):
                    return cls, pattern.pattern
        return None


class ToolCatalogue:
    """The packaged (or a given) tools.yml, compiled; `classify` never raises."""

    def __init__(self, data: Mapping[str, Any], *, actions: Catalogue | None = None) -> None:
        self.version = str(data.get("version") or "")
        if not self.version:
            raise ValueError("tool catalogue: `version` is missing")
        tools = data.get("tools") or {}
        self.shell_tools = frozenset(tools.get("shell") or ())
        self.file_tools = frozenset(tools.get("file_write") or ())
        self.read_tools = frozenset(tools.get("read") or ())
        self.shell = _compile(data.get("shell") or {}, 0, exclude=("read",))
        self.shell_reads = tuple(re.compile(p) for p in (data.get("shell") or {}).get("read", ()))
        self.sql = _compile(data.get("sql") or {}, re.I)
        names = data.get("tool_names") or {}
        self.name_verbs: dict[str, str] = {}  # verb -> class, the most severe classes first
        for cls in _severest_first(names):
            for verb in names[cls]:
                self.name_verbs.setdefault(str(verb), cls)
        self.files = tuple(
            (cls, tuple(str(g) for g in (data.get("files") or {})[cls]))
            for cls in _severest_first(data.get("files") or {})
        )
        self.actions = actions or default_catalogue()

    def classify(self, tool: str, arguments: Any = None) -> ToolCall:
        """The class of calling `tool` with `arguments` (a mapping, a string, or None), with
        what Leash keeps of the call."""
        args = arguments if isinstance(arguments, Mapping) else {"input": arguments}
        cls, because, command, path = self._judge(tool, args)
        resources = []
        if command is not None:
            flat = " ".join(command[: SUMMARY_MAX * 4].split())
            resources.append("cmd: " + _clip(redact(flat)))
        if path is not None:
            resources.append(_clip(redact(path[: SUMMARY_MAX * 4])))
        summary = _clip(_summary(redact_arguments(args)))
        return ToolCall(cls, because, summary, tuple(resources), _digest(args))

    def action_class(self, tool: str, arguments: Any = None) -> str:
        """classify(...).action_class without what is kept (the normaliser's hot path)."""
        args = arguments if isinstance(arguments, Mapping) else {"input": arguments}
        return self._judge(tool, args)[0]

    def _judge(self, tool: str, args: Mapping[str, Any]) -> tuple[str, str, str | None, str | None]:
        """(class, because, the shell command if a shell tool, the path if one is written)."""
        name = tool.rsplit("__", 1)[-1]  # mcp__<server>__<tool> -> <tool>
        found: list[tuple[str, str]] = []
        command = _first_text(args, _COMMAND_KEYS) if name in self.shell_tools else None
        path = _first_text(args, _PATH_KEYS) if name not in self.read_tools else None
        if name in self.shell_tools:
            if command is not None:
                found.append(self._shell(command))
        elif name in self.file_tools:
            found.append(self._file(path) if path is not None else ("write", ""))
        elif name in self.read_tools:
            found.append(("read", f"tool {name}"))
        else:
            found.append(self._by_name(name))
        for text in _texts(args):
            hit = self.sql.match(text)
            if hit is not None:
                found.append(hit)
        found = found or [("write", "")]
        cls, because = max(found, key=lambda f: ACTION_CLASSES.index(f[0]))
        return cls, because, command, path

    def _shell(self, line: str) -> tuple[str, str]:
        commands = [c[:COMMAND_MAX] for c in _commands(line[:MAX_TEXT])][:MAX_COMMANDS]
        found = [hit for c in commands if (hit := self._one_command(c)) is not None]
        if found:
            return max(found, key=lambda f: ACTION_CLASSES.index(f[0]))
        if commands and all(any(p.search(c) for p in self.shell_reads) for c in commands):
            return "read", "read-only commands"
        return "write", ""

    def _one_command(self, command: str) -> tuple[str, str] | None:
        hits = [hit for hit in (self.shell.match(command), self._aws(command)) if hit]
        return max(hits, key=lambda f: ACTION_CLASSES.index(f[0])) if hits else None

    def _aws(self, command: str) -> tuple[str, str] | None:
        """`aws <service> <operation>`: the API call it makes, classified by actions.csv."""
        words = _split(command)
        if "aws" not in words:
            return None
        rest = words[words.index("aws") + 1 :]
        positional, skip = [], False
        for word in rest:
            if skip:
                skip = False
            elif word.startswith("-"):
                skip = word in _AWS_VALUE_OPTIONS
            else:
                positional.append(word)
            if len(positional) == 2:
                break
        if len(positional) < 2:
            return None
        service, operation = positional
        if service == "s3" and operation in _S3_HIGH_LEVEL:
            return _S3_HIGH_LEVEL[operation], f"aws s3 {operation}"
        api = "".join(part.capitalize() for part in operation.split("-"))
        source = _CLI_SERVICES.get(service, service) + ".amazonaws.com"
        return self.actions.classify(source, api), f"aws {service} {operation} ({api})"

    def _file(self, path: str) -> tuple[str, str]:
        for cls, globs in self.files:
            for glob in globs:
                if fnmatchcase(path, glob):
                    return cls, glob
        return "write", ""

    def _by_name(self, name: str) -> tuple[str, str]:
        words = [w.lower() for w in _WORDS.findall(name)]
        joined = "_".join(words)
        for verb, cls in self.name_verbs.items():
            if joined == verb or joined.startswith(verb + "_") or f"_{verb}_" in f"_{joined}_":
                return cls, f"tool name {name!r} ({verb})"
        return "write", ""


def _compile(
    groups: Mapping[str, Sequence[str]], flags: int, *, exclude: Sequence[str] = ()
) -> _Patterns:
    return _Patterns(
        tuple(
            (cls, tuple(re.compile(p, flags) for p in groups[cls]))
            for cls in _severest_first(groups)
            if cls not in exclude
        )
    )


def _severest_first(groups: Mapping[str, Any]) -> list[str]:
    for cls in groups:
        if cls not in ACTION_CLASSES:
            raise ValueError(f"tool catalogue: unknown action class {cls!r}")
    return sorted(groups, key=ACTION_CLASSES.index, reverse=True)


def _commands(line: str) -> Iterator[str]:
    """Each command of a shell line, with `sh -c '...'` bodies and sudo/env wrappers opened."""
    for inner in _NESTED.finditer(line):
        yield from _commands(inner["inner"])
    for segment in _SEGMENTS.split(line):
        command = segment.strip().lstrip("({").strip()
        while (match := _WRAPPERS.match(command)) is not None:
            command = command[match.end() :]
        if command:
            yield command


def _split(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote: words are still words
        return command.split()


def _first_text(args: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = args.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return " && ".join(value)
    return None


def _texts(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string inside `value` (a few levels deep), each cut at MAX_TEXT."""
    if isinstance(value, str):
        yield value[:MAX_TEXT]
    elif depth < 4 and isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item, depth + 1)
    elif depth < 4 and isinstance(value, list | tuple):
        for item in value[:64]:
            yield from _texts(item, depth + 1)


def _summary(args: Mapping[str, Any]) -> str:
    """key=value pairs of already redacted arguments."""
    parts = []
    for key, value in args.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{key}={' '.join(text[: SUMMARY_MAX * 2].split())}")
    return ", ".join(parts)


def _digest(args: Mapping[str, Any]) -> str:
    try:
        canonical = orjson.dumps(args, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # nested past orjson's limit: its strings
        canonical = "\x00".join(_texts(args)).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def load_tool_catalogue(path: str | Path | None = None) -> ToolCatalogue:
    """Load tools.yml (the packaged one when `path` is None)."""
    if path is None:
        text = resources.files("ingest.catalogue").joinpath("tools.yml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"tool catalogue {path or 'tools.yml'}: expected a mapping")
    return ToolCatalogue(data)


@functools.cache
def tool_catalogue() -> ToolCatalogue:
    """The packaged tool catalogue, loaded once per process."""
    return load_tool_catalogue()
