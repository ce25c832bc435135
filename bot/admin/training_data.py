"""The NLU training examples as admins edit them, kept in the Rasa files that `rasa train` reads.

The files stay the source of truth: an edit changes exactly the lines it is about (comments, order and
everything else stay byte for byte), so an engineer reviews it as a git diff. Examples are read from every
`- intent:` block of data/nlu/*.yml; a new example goes to the end of its intent's last block, a new intent
to data/nlu/admin.yml (and to domain.yml's intents). An example's id is a hash of its intent and text, so
an edit or delete aimed at an example someone else changed meanwhile finds no such id: a conflict, never a
silent overwrite.
"""
from __future__ import annotations

import fcntl
import hashlib
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ADMIN_FILE = "admin.yml"
MAX_EXAMPLE_CHARS = 500
_INTENT_LINE = re.compile(r"^- intent:\s*([\w/.-]+)\s*(#.*)?$")
_EXAMPLES_LINE = re.compile(r"^  examples:\s*\|\s*$")
_EXAMPLE_LINE = re.compile(r"^    - (.*)$")
_ANNOTATION = re.compile(r"\[([^\[\]]+)\]\(([\w-]+)(?::[^)]*)?\)")
_INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


class InvalidEdit(ValueError):
    """An edit that would break the training data; `field` names what to fix, the message says how."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class EditConflict(RuntimeError):
    """The example changed since the admin read it; `current` is what the intent holds now (the merge view)."""

    def __init__(self, message: str, current: list[Example]) -> None:
        super().__init__(message)
        self.current = current


def plain_text(annotated: str) -> str:
    """"te pago [el viernes](date)" → "te pago el viernes"."""
    return _ANNOTATION.sub(lambda match: match.group(1), annotated)


def normalized(text: str) -> str:
    """What makes two examples the same sentence: case, accents and spacing do not."""
    stripped = "".join(ch for ch in unicodedata.normalize("NFKD", plain_text(text)) if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


def example_id(intent: str, text: str) -> str:
    return hashlib.sha256(f"{intent}\n{text}".encode()).hexdigest()[:16]


@contextmanager
def locked(domain_file: Path) -> Iterator[None]:
    """One writer at a time across processes (the app's workers) for the training files of one domain.yml
    (examples, intents and replies all end up there). The lock file lives in the temporary folder, never
    among the training files (which name the model)."""
    key = hashlib.sha256(str(domain_file.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"acuerdo-training-{key}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Example:
    intent: str
    text: str  # as written: entities annotated as [value](entity)
    file: str

    @property
    def id(self) -> str:
        return example_id(self.intent, self.text)

    @property
    def entities(self) -> list[tuple[str, str]]:
        return [(match.group(2), match.group(1)) for match in _ANNOTATION.finditer(self.text)]


@dataclass
class _File:
    path: Path
    lines: list[str]  # with their line endings
    blocks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # intent → [(first, end) example lines]


def _parse(path: Path) -> _File:
    parsed = _File(path, path.read_text(encoding="utf-8").splitlines(keepends=True))
    index, total = 0, len(parsed.lines)
    while index < total:
        match = _INTENT_LINE.match(parsed.lines[index].rstrip("\r\n"))
        if match and index + 1 < total and _EXAMPLES_LINE.match(parsed.lines[index + 1].rstrip("\r\n")):
            first = end = index + 2
            while end < total and _EXAMPLE_LINE.match(parsed.lines[end].rstrip("\r\n")):
                end += 1
            parsed.blocks.setdefault(match.group(1), []).append((first, end))
            index = end
        else:
            index += 1
    return parsed


class TrainingData:
    """The examples of data/nlu and the intents and entities of domain.yml, read fresh for every operation."""

    def __init__(self, nlu_dir: Path, domain_file: Path, heldout_files: tuple[Path, ...] = ()) -> None:
        self.nlu_dir = nlu_dir
        self.domain_file = domain_file
        self.heldout_files = heldout_files

    # --- reading ---------------------------------------------------------------------------------------

    def _files(self) -> list[_File]:
        return [_parse(path) for path in sorted(self.nlu_dir.glob("*.yml"))]

    def examples(self, intent: str | None = None, query: str | None = None) -> list[Example]:
        wanted = normalized(query) if query else None
        found = []
        for parsed in self._files():
            for name, blocks in parsed.blocks.items():
                if intent is not None and name != intent:
                    continue
                for first, end in blocks:
                    for line in parsed.lines[first:end]:
                        match = _EXAMPLE_LINE.match(line.rstrip("\r\n"))
                        if match is not None and (wanted is None or wanted in normalized(match.group(1))):
                            found.append(Example(name, match.group(1), parsed.path.name))
        return found

    def _domain(self) -> dict[str, list[str]]:
        data = yaml.safe_load(self.domain_file.read_text(encoding="utf-8")) or {}
        return {"intents": [next(iter(i)) if isinstance(i, dict) else str(i) for i in data.get("intents", [])],
                "entities": [next(iter(e)) if isinstance(e, dict) else str(e) for e in data.get("entities", [])]}

    def intents(self) -> dict[str, int]:
        """Every intent of the domain with how many examples it has (some, like the gateway's, have none)."""
        counts = dict.fromkeys(self._domain()["intents"], 0)
        for example in self.examples():
            counts[example.intent] = counts.get(example.intent, 0) + 1
        return counts

    def entities(self) -> list[str]:
        return self._domain()["entities"]

    def export(self, out_dir: Path) -> list[Path]:
        """Every training file and the domain, as the store reads and writes them, under `out_dir`
        (data/nlu/… and domain.yml): what an engineer reviews or commits from a deployment's copy."""
        written = []
        for parsed in self._files():
            target = out_dir / "data" / "nlu" / parsed.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(parsed.lines), encoding="utf-8")
            written.append(target)
        domain = out_dir / "domain.yml"
        domain.write_text(self.domain_file.read_text(encoding="utf-8"), encoding="utf-8")
        return [*written, domain]

    # --- checking --------------------------------------------------------------------------------------

    def _heldout(self) -> set[str]:
        texts: set[str] = set()
        for path in self.heldout_files:
            if path.is_file():
                for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
                    for line in str(block.get("examples", "")).splitlines():
                        if line.strip().startswith("- "):
                            texts.add(normalized(line.strip()[2:]))
        return texts

    def check(self, intent: str, text: str, replacing: Example | None = None) -> str:
        """The example as it will be written, or InvalidEdit naming the field and the fix."""
        text = " ".join(text.split())
        if intent not in self._domain()["intents"]:
            raise InvalidEdit("intent", f"No existe el intent «{intent}». Créalo primero o elige uno existente.")
        if not plain_text(text).strip():
            raise InvalidEdit("text", "El ejemplo está vacío.")
        if len(text) > MAX_EXAMPLE_CHARS:
            raise InvalidEdit("text", f"El ejemplo pasa de {MAX_EXAMPLE_CHARS} caracteres.")
        if text.count("[") != text.count("]") or "[" in _ANNOTATION.sub("", text) or "](" in _ANNOTATION.sub("", text):
            raise InvalidEdit("text", "Una entidad está mal marcada: se escribe [texto](entidad).")
        known = set(self._domain()["entities"])
        for entity, _ in Example(intent, text, "").entities:
            if entity not in known:
                raise InvalidEdit("text", f"No existe la entidad «{entity}» (hay: {', '.join(sorted(known))}).")
        key = normalized(text)
        if key in self._heldout():
            raise InvalidEdit("text", "Esta frase está en un conjunto de evaluación: entrenar con ella falsearía las "
                                      "métricas. Escribe otra.")
        for example in self.examples():
            if example == replacing or normalized(example.text) != key:
                continue
            if example.intent == intent:
                raise InvalidEdit("text", f"Ya existe este ejemplo en «{intent}».")
            raise InvalidEdit("text", f"Esta frase ya es un ejemplo de «{example.intent}»: una frase no puede "
                                      "enseñar dos intents.")
        return text

    # --- writing ---------------------------------------------------------------------------------------

    def find(self, example_id_: str) -> Example | None:
        return next((example for example in self.examples() if example.id == example_id_), None)

    def _require(self, example_id_: str, intent_hint: str | None = None) -> Example:
        found = self.find(example_id_)
        if found is None:
            raise EditConflict("Este ejemplo cambió o se borró mientras lo editabas.",
                               self.examples(intent_hint) if intent_hint else [])
        return found

    def add(self, intent: str, text: str) -> Example:
        with locked(self.domain_file):
            text = self.check(intent, text)
            self._insert(intent, text)
            return Example(intent, text, self._file_of(intent, text))

    def edit(self, example_id_: str, text: str, intent: str | None = None, intent_hint: str | None = None) -> Example:
        with locked(self.domain_file):
            old = self._require(example_id_, intent_hint)
            new_intent = intent or old.intent
            text = self.check(new_intent, text, replacing=old)
            if new_intent == old.intent:
                self._replace(old, f"    - {text}\n")
            else:
                self._replace(old, None)
                self._insert(new_intent, text)
            return Example(new_intent, text, self._file_of(new_intent, text))

    def delete(self, example_id_: str, intent_hint: str | None = None) -> Example:
        with locked(self.domain_file):
            old = self._require(example_id_, intent_hint)
            self._replace(old, None)
            return old

    def add_intent(self, name: str) -> None:
        with locked(self.domain_file):
            if not _INTENT_NAME.match(name):
                raise InvalidEdit("name", "Un intent se nombra en minúsculas, con letras, números y guiones bajos.")
            if name in self._domain()["intents"]:
                raise InvalidEdit("name", f"El intent «{name}» ya existe.")
            lines = self.domain_file.read_text(encoding="utf-8").splitlines(keepends=True)
            start = next(i for i, line in enumerate(lines) if line.rstrip() == "intents:")
            end = start + 1
            while end < len(lines) and lines[end].startswith("  - "):
                end += 1
            lines.insert(end, f"  - {name}\n")
            self.domain_file.write_text("".join(lines), encoding="utf-8")

    def _file_of(self, intent: str, text: str) -> str:
        return next((e.file for e in self.examples(intent) if e.text == text), "")

    def _replace(self, example: Example, new_line: str | None) -> None:
        parsed = _parse(self.nlu_dir / example.file)
        for first, end in parsed.blocks.get(example.intent, []):
            for index in range(first, end):
                match = _EXAMPLE_LINE.match(parsed.lines[index].rstrip("\r\n"))
                if match is not None and match.group(1) == example.text:
                    if new_line is None and end - first == 1:  # its block's last example: the block goes too
                        del parsed.lines[first - 2:end]
                    elif new_line is None:
                        del parsed.lines[index]
                    else:
                        parsed.lines[index] = new_line
                    _write(parsed)
                    return

    def _insert(self, intent: str, text: str) -> None:
        line = f"    - {text}\n"
        for parsed in reversed(self._files()):
            blocks = parsed.blocks.get(intent)
            if blocks:
                end = blocks[-1][1]
                if end > 0 and not parsed.lines[end - 1].endswith("\n"):
                    parsed.lines[end - 1] += "\n"
                parsed.lines.insert(end, line)
                _write(parsed)
                return
        admin = self.nlu_dir / ADMIN_FILE
        if not admin.exists():
            admin.write_text('version: "3.1"\n\n# Intents and examples added in the admin pages.\n\nnlu:\n',
                             encoding="utf-8")
        content = admin.read_text(encoding="utf-8")
        separator = "" if content.endswith("\n") else "\n"
        admin.write_text(f"{content}{separator}- intent: {intent}\n  examples: |\n{line}", encoding="utf-8")


def _write(parsed: _File) -> None:
    parsed.path.write_text("".join(parsed.lines), encoding="utf-8")
