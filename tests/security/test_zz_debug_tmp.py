from tests.security.test_access_matrix import *  # noqa
def test_dump(world):
    v = Visitors(world)
    for route in ROUTES:
        if route.is_api or "stylestore" in route.name or route.name in ("media","admin:index"):
            url = url_for(route, world)
            row = [v.request(r, "GET", url).status_code for r in ROLES]
            row2 = [v.request(r, "POST", url).status_code for r in ROLES]
            print(f"{route.name:50} {url:60} GET {row} POST {row2}")
