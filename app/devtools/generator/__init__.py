"""The module generator: `python main.py generate NAME --field title:str:200 ...` writes a
complete business module (model, schemas, repository, service, CRUD routes, permissions, menu,
migration, tests) in the house style. See docs/generator.md.

    from app.devtools.generator import Options, generate
    result = generate(Options(name="gadget", fields=["title:str:200"], dry_run=True))
"""

from app.devtools.generator.command import Options, Result, generate
from app.devtools.generator.spec import GeneratorError

__all__ = ["GeneratorError", "Options", "Result", "generate"]
