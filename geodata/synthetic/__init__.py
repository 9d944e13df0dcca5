"""Synthetic data with no outside data, for the offline demo, tests and scale benchmarks.

* :mod:`~geodata.synthetic.city`: a deterministic synthetic city near Hohhot
  (:func:`synthetic_city`: population grid, streets, clinics, sub-districts;
  :func:`save_synthetic_city` writes it as the files ``siting plan`` reads). Its generators are
  private modules: ``_population`` (river, park, residents), ``_streets`` (the street graph),
  ``_units`` (sub-districts), ``_sites`` (clinics and candidates), with ``_constants`` and
  ``_names`` (Chinese street, unit and clinic names).
* :mod:`~geodata.synthetic.province`: a synthetic province in real (or synthetic) county
  polygons (:func:`synthetic_province`, :func:`synthetic_units`) for region-scale planning.
"""

from geodata.synthetic._constants import CENTRE_LONLAT, MAX_PER_HECTARE, NODATA, UTM_CRS
from geodata.synthetic.city import SyntheticCity, save_synthetic_city, synthetic_city
from geodata.synthetic.province import SyntheticProvince, synthetic_province, synthetic_units

__all__ = [
    "CENTRE_LONLAT",
    "MAX_PER_HECTARE",
    "NODATA",
    "UTM_CRS",
    "SyntheticCity",
    "SyntheticProvince",
    "save_synthetic_city",
    "synthetic_city",
    "synthetic_province",
    "synthetic_units",
]
