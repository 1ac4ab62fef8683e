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


def test_demo_administrator_signs_in_to_each_demo_scheme(runner, client):
    from tests.tenants.test_sessions import sign_in

    out = runner("demo", "--no-serve")
    assert out.exit_code == 0, out.output
    password = next(line.split()[-1] for line in out.output.splitlines() if "Password:" in line)

    class Slug:
        slug = "demo-maternal-voucher"

    assert "/t/demo-maternal-voucher/" in out.output
    resp = sign_in(client, Slug, "demo@schemehost.example", password)
    assert resp.status_code == 302 and "/login" not in resp.headers["Location"]
    home = client.get("/t/demo-maternal-voucher/")
    assert home.status_code == 200 and "Demo administrator" in home.get_data(as_text=True)
