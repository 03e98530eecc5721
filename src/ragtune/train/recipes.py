"""The recipe table: recipe name -> its train function, built-ins registered like third parties.

    from ragtune.train.recipes import register_recipe

    @register_recipe("mine", inputs="qa", summary="my objective over QA pairs")
    def train(settings, data, name, cfg, **options): ...   # -> an Outcome, like sft.train

``recipe("mine").load()`` gives the function back. A built-in is registered by its import path
(``"ragtune.train.sft:train"``) and imported only when it is used, so reading the table (for
``ragtune train --help`` or a config check) does not import torch; a third party may pass either
the function or such a path.

``inputs`` says what the recipe trains on, which decides where its data comes from:
``qa`` (QA/chat JSONL files), ``documents`` (chunks of a knowledge base or of files),
``qa+documents`` (QA files over a knowledge base's chunks) or ``labels`` (labelled rows).

``ragtune train run NAME`` gathers those inputs and calls the function by keyword, with the
arguments the built-ins of that kind take (``cfg`` is a validated ``TrainConfig``; ``progress``
is None for a bar, False for none):

- ``qa`` (as ``sft.train``): ``train(settings=, data=[files], name=, cfg=, val_data=[files] | None,
  base=, overwrite=, progress=)``;
- ``documents`` (as ``cpt.train``): ``train(settings=, chunks=[Chunk], name=, cfg=, base=, overwrite=,
  progress=)``;
- ``qa+documents`` (as ``raft.train``): the ``qa`` arguments plus ``chunks=[Chunk] | None``;
- ``labels`` (as ``runner.run_classifier``): the ``qa`` arguments plus ``text_field=``, ``label_field=``
  (the files hold labelled rows).

It returns an ``Outcome`` (``.info`` a ModelInfo, ``.result`` the training result, as ``sft.train``)
or a plain dict, which the command prints as JSON.

A package registers its recipes for the command by an entry point in the group
``ragtune.recipes`` whose module calls ``register_recipe`` when imported (as llm's plugins do);
they are imported when the table is first read through ``recipe()`` or ``recipe_names()``::

    [project.entry-points."ragtune.recipes"]
    mine = "my_package.recipe"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

from ragtune.errors import ConfigError

INPUTS = ("qa", "documents", "qa+documents", "labels")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Recipe:
    name: str
    target: Callable[..., Any] | str  # the train function, or "package.module:function"
    inputs: str
    summary: str = ""

    def load(self) -> Callable[..., Any]:
        """The train function (imported now if it was registered by path)."""
        if callable(self.target):
            return self.target
        module, _, attr = self.target.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"recipe {self.name!r}: cannot import {self.target!r} ({e}); "
                              "is the package that registered it installed?") from e
        if not callable(fn):
            raise ConfigError(f"recipe {self.name!r}: {self.target!r} is not a function")
        return fn


RECIPES: dict[str, Recipe] = {}


def register_recipe(name: str, train: Callable[..., Any] | str | None = None, *, inputs: str,
                    summary: str = "", replace: bool = False) -> Any:
    """Put the recipe ``name`` in the table; without ``train``, a function decorator that does it.

    A name that already has another recipe is refused unless ``replace=True``, so two packages
    cannot silently take the same name.
    """
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise ConfigError(f"register_recipe: {name!r} is not a recipe name; pass one like 'sft'")
    if inputs not in INPUTS:
        raise ConfigError(f"register_recipe: inputs {inputs!r} is unknown; use one of {', '.join(INPUTS)}")

    def put(target: F | str) -> F | str:
        if not (callable(target) or (isinstance(target, str) and ":" in target)):
            raise ConfigError(f"register_recipe: {target!r} is neither a function nor a 'module:function' path")
        new = Recipe(name, target, inputs, summary)
        old = RECIPES.get(name)
        if old is not None and old != new and not replace:
            raise ConfigError(f"register_recipe: {name!r} is already {old.target!r}; pass replace=True to take it over")
        RECIPES[name] = new
        return target

    return put if train is None else put(train)


_plugins_loaded = False


def _load_plugins() -> None:
    """Import the ``ragtune.recipes`` entry points once; each registers its recipes on import."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for ep in entry_points(group="ragtune.recipes"):
            ep.load()  # the plugin's module calls register_recipe when imported


def recipe_names() -> list[str]:
    """Every recipe's name, built-ins first, then those the plugins registered."""
    _load_plugins()
    return list(RECIPES)


def recipe(name: str) -> Recipe:
    """The recipe registered as ``name``; an unknown name is one line naming the known ones."""
    _load_plugins()
    r = RECIPES.get(name)
    if r is None:
        raise ConfigError(f"recipe {name!r} is unknown; use one of {', '.join(repr(n) for n in RECIPES) or 'none'}")
    return r


# The built-in recipes, registered by path exactly as a third party can.
register_recipe("sft", "ragtune.train.sft:train", inputs="qa",
                summary="supervised fine-tuning on question/answer or chat pairs")
register_recipe("cpt", "ragtune.train.cpt:train", inputs="documents",
                summary="continued pre-training on the documents' text (+ paraphrases)")
register_recipe("synth", "ragtune.train.synth:train", inputs="documents",
                summary="generate QA pairs from the documents, then SFT on them")
register_recipe("raft", "ragtune.train.raft:train", inputs="qa+documents",
                summary="RAFT: answer from an oracle passage among distractors")
register_recipe("classify", "ragtune.train.runner:run_classifier", inputs="labels",
                summary="a text classifier (LLM with a head, or an embedder head)")
