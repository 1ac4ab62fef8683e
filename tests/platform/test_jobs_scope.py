"""Partner staff see only the jobs of their partner's tenants on /api/v1/jobs."""

from tests.platform.test_operator_roles import bearer, partners  # noqa: F401  (fixtures)


def test_partner_staff_see_only_their_partners_jobs(client, partners, bearer, api):
    own_partner, own = partners["own"]
    _other_partner, other = partners["other"]
    staff = bearer("partner_staff", own_partner)

    everything = api.get("/api/v1/jobs?page_size=100").json
    other_jobs = [j for j in everything if j["tenant"] == other]
    assert other_jobs and any(j["tenant"] == own for j in everything)  # both tenants were built by a job

    seen = client.get("/api/v1/jobs?page_size=100", headers=staff).json
    assert seen and {j["tenant"] for j in seen} == {own}
    assert client.get(f"/api/v1/jobs?tenant={other}", headers=staff).json == []
    hidden = client.get(f"/api/v1/jobs/{other_jobs[0]['id']}", headers=staff)
    assert hidden.status_code == 404 and hidden.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/jobs/{other_jobs[0]['id']}", headers=bearer("support")).status_code == 200
