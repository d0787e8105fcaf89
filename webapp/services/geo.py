"""Small geodesy helpers: distances between GPS fixes and links that open a point in a map app.

Phones report WGS-84. Chinese map apps (Amap/高德, Baidu) draw their base maps in GCJ-02, a
deliberately offset datum (up to ~500 m in cities), so a raw WGS-84 pin lands on the wrong street.
We convert to GCJ-02 for those links and keep WGS-84 for the ``geo:`` URI and OpenStreetMap.
"""
from __future__ import annotations

import math
from urllib.parse import quote, urlencode

EARTH_RADIUS_M = 6_371_008.8

# Krasovsky 1940 ellipsoid constants of the published GCJ-02 transform.
_A = 6378245.0
_EE = 0.00669342162296594323


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres; good to a few metres at the scale of a street."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def in_china(lat: float, lon: float) -> bool:
    """The offset only applies inside mainland China (a rough bounding box, as the apps use)."""
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (lat, lon); identity outside China."""
    if not in_china(lat, lon):
        return lat, lon
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lat + dlat, lon + dlon


def map_links(lat: float | None, lon: float | None, label: str = "") -> list[dict[str, str]]:
    """Links that open the point in a map app, each with the datum that app expects."""
    if lat is None or lon is None:
        return []
    glat, glon = wgs84_to_gcj02(lat, lon)
    amap = "https://uri.amap.com/marker?" + urlencode(
        {"position": f"{glon:.6f},{glat:.6f}", "name": label or "问题位置", "coordinate": "gaode",
         "callnative": "1", "src": "xuncha"})
    baidu = "https://api.map.baidu.com/marker?" + urlencode(
        {"location": f"{glat:.6f},{glon:.6f}", "title": label or "问题位置", "content": label or "问题位置",
         "coord_type": "gcj02", "output": "html", "src": "xuncha"})
    return [
        {"key": "amap", "url": amap},
        {"key": "baidu", "url": baidu},
        {"key": "geo", "url": f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}({quote(label or 'finding')})"},
        {"key": "osm", "url": f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=18/{lat:.6f}/{lon:.6f}"},
    ]
