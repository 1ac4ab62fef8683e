"""Maps the fixed top-level folders to the ``schemehost.*`` import names.

``platform/`` has no ``__init__.py`` so that it never shadows the standard
library's ``platform`` module when pytest puts the repository root on
``sys.path``; every package is therefore listed explicitly here.
"""

from setuptools import find_namespace_packages, setup

ROOTS = {
    "platform": "schemehost.platform",
    "tenants": "schemehost.tenants",
    "provisioning": "schemehost.provisioning",
    "migrations": "schemehost.migrations",
}
DATA = ["*.yaml", "*.html", "*.po", "*.mo", "*.pot", "*.css", "*.js", "*.svg", "*.mako", "*.ini", "*.cfg", "*.sql"]

packages, package_dir = [], {}
for folder, name in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={name: DATA for name in packages},
)
