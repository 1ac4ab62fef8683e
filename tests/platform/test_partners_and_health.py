import json


def test_partner_create_and_list(runner, unique):
    slug = unique("acme")
    result = runner("partners", "create", slug, "--name", "Acme IT", "--country", "cm", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["country"] == "CM"
    listed = json.loads(runner("partners", "list", "--json").output)
    assert slug in [p["slug"] for p in listed]


def test_partner_bad_slug_is_explained_and_changes_nothing(runner):
    result = runner("partners", "create", "Bad_Slug", "--name", "X")
    assert result.exit_code == 1
    assert "lowercase letter" in result.output
    listed = json.loads(runner("partners", "list", "--json").output)
    assert "Bad_Slug" not in [p["slug"] for p in listed]


def test_partner_taken_slug_exits_1(runner, unique):
    slug = unique("dup")
    assert runner("partners", "create", slug, "--name", "One").exit_code == 0
    result = runner("partners", "create", slug, "--name", "Two")
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["control_revision"] == ready.json["control_head"]


def test_unknown_route_is_problem_json(client):
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == 404
