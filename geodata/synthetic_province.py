"""The synthetic province under its former module name (kept so that code importing
``geodata.synthetic_province`` keeps working); it lives in :mod:`geodata.synthetic.province`."""

from geodata.synthetic.province import SyntheticProvince, synthetic_province, synthetic_units

__all__ = ["SyntheticProvince", "synthetic_province", "synthetic_units"]
