"""The public API: __all__ is complete and every public name is documented."""

import importlib
import inspect
import pkgutil

import dl_workshop
import dl_workshop.answers

#: The folders that group the package's modules by role (docs/architecture.md).
ROLES = ("lesson", "io", "fitting", "teaching")


def test_all_lists_every_public_name_defined_in_the_package():
    exported = set(dl_workshop.__all__)
    for name in exported:
        assert hasattr(dl_workshop, name), f"__all__ names {name!r}, which is missing"
    public_modules = [
        m.name
        for m in pkgutil.iter_modules(dl_workshop.__path__)
        if not m.name.startswith("_") and m.name not in {"answers", "cli", *ROLES}
    ]
    for role in ROLES:  # the folders that group modules by role: their modules are public
        package = importlib.import_module(f"dl_workshop.{role}")
        public_modules += [
            f"{role}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
            if not m.name.startswith("_")
        ]
    assert {"fitting.optimization", "teaching.checks", "lesson.model"} <= set(public_modules)
    for module_name in public_modules:
        module = importlib.import_module(f"dl_workshop.{module_name}")
        for name in getattr(module, "__all__", []):
            assert name in exported, f"dl_workshop.{module_name}.{name} is not re-exported"


def test_answers_are_the_library_not_a_copy():
    for name in dl_workshop.answers.__all__:
        if hasattr(dl_workshop, name):
            assert getattr(dl_workshop.answers, name) is getattr(dl_workshop, name)


def test_public_callables_have_docstrings_with_examples():
    for name in dl_workshop.__all__:
        obj = getattr(dl_workshop, name)
        if callable(obj) and not inspect.isclass(obj):
            doc = inspect.getdoc(obj) or ""
            assert "Example" in doc, f"{name} lacks an example in its docstring"
