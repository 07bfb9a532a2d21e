"""Firmware profiles: one sensor model's register map per `firmware_profiles/*.toml`.

    models   Profile, PointSpec, Quirks, LineFormat ... (the file schema), WORDS
    loader   load_profiles, load_profile, packaged_profile_files, format_loc

Packaged profiles are always loaded; a gateway adds its own files or folders.
"""

from drivers.profiles.loader import format_loc, load_profile, load_profiles, packaged_profile_files
from drivers.profiles.models import (
    WORDS,
    Address,
    AddressRange,
    ByteOrder,
    Fingerprint,
    IdentifyMatch,
    LineFormat,
    PointName,
    PointSpec,
    PointType,
    Profile,
    ProfileId,
    Quantity,
    Quirks,
    SerialDefaults,
    UnitId,
    ValidIf,
)

__all__ = [
    "WORDS",
    "Address",
    "AddressRange",
    "ByteOrder",
    "Fingerprint",
    "IdentifyMatch",
    "LineFormat",
    "PointName",
    "PointSpec",
    "PointType",
    "Profile",
    "ProfileId",
    "Quantity",
    "Quirks",
    "SerialDefaults",
    "UnitId",
    "ValidIf",
    "format_loc",
    "load_profile",
    "load_profiles",
    "packaged_profile_files",
]
