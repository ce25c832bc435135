from fastapi.testclient import TestClient

from api.main import app


def test_health_touches_the_database(database_url: str) -> None:
    response = TestClient(app).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
