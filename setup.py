"""Build hook: a wheel carries the folders the kit reads beside its code.

``data_recipes/`` (source registry, fingerprints, asset lock) and ``results/paper/`` (the published
numbers) stay at the top of the repository; ``build_py`` copies them into the built package as
``clue/_shipped/…``, where :func:`clue.paths.shipped` finds them in an installed wheel. An editable
install gets no copy: it reads the checkout's folders. Everything else is in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("data_recipes", "results/paper")


class build_py_with_shipped(build_py):   # noqa: N801 - setuptools' command naming
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder in SHIPPED:
            source = ROOT / folder
            files = sorted(p for p in source.rglob("*") if p.is_file())
            if not files:
                raise SystemExit(f"{source}: missing or empty; the wheel needs it (clue/_shipped/{folder})")
            for file in files:
                target = Path(self.build_lib) / "clue" / "_shipped" / folder / file.relative_to(source)
                self.mkpath(str(target.parent))
                self.copy_file(str(file), str(target))


setup(cmdclass={"build_py": build_py_with_shipped})
