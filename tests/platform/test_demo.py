import json


def test_demo_sets_up_everything_and_is_safe_to_rerun(runner):
    first = runner("demo", "--no-serve")
    assert first.exit_code == 0, first.output
    assert "demo@schemehost.example" in first.output
    assert "http://127.0.0.1:5000/console/" in first.output
    password = next(line.split()[-1] for line in first.output.splitlines() if "Password:" in line)
    second = runner("demo", "--no-serve")
    assert second.exit_code == 0, second.output
    assert password in second.output  # the same credentials on every run
    tenants = {t["slug"]: t for t in json.loads(runner("tenants", "list", "--json", "--partner", "demo").output)}
    templates = json.loads(runner("templates", "list", "--json").output)
    for tpl in templates:
        assert tenants[f"demo-{tpl['name']}"]["status"] == "active"
        assert tenants[f"demo-{tpl['name']}"]["template"] == tpl["name"]
