"""Site configuration (cameras, water polygon, quay line, contacts) and the wire contract.

`load_site(path)` is the one way in: it validates and raises `ConfigError` whose lines name each
field's path, e.g. `cameras[1].water: polygon needs at least 3 points`.
"""

from quaywatch.config.camera import Camera, Location
from quaywatch.config.loader import load_site, load_yaml, site_from_dict
from quaywatch.config.site import Site, SiteInfo

__all__ = ["Camera", "Location", "Site", "SiteInfo", "load_site", "load_yaml", "site_from_dict"]
