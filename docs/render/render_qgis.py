"""Render every layer of a siting GeoPackage with its stored default style (QGIS, offscreen).

Run with the system Python that has QGIS (not the project's virtual environment)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 docs/render/render_qgis.py OUT.gpkg OUT.png \
        [--width 1600] [--height 1200] [--zoom LAYER:FEATURE_INDEX:METRES]

Layers are drawn polygons first, then lines, then points; each is opened as QGIS opens it
(its ``layer_styles`` default style applied). The script prints, per layer, its geometry
type, feature count, renderer, how many fields have an alias, and the map scale of the PNG.
``--zoom`` centres a window of METRES across on one feature of a layer (city scale).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def _layers(gpkg: Path) -> list[QgsVectorLayer]:
    from osgeo import ogr

    ds = ogr.Open(str(gpkg))
    names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
    out = []
    for name in names:
        if name == "layer_styles":
            continue
        layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
        if not layer.isValid():
            print(f"  {name}: INVALID", file=sys.stderr)
            continue
        out.append(layer)
    order = {QgsWkbTypes.PolygonGeometry: 0, QgsWkbTypes.LineGeometry: 1}
    return sorted(out, key=lambda lyr: order.get(lyr.geometryType(), 2))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("gpkg", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1200)
    ap.add_argument("--zoom", help="LAYER:INDEX:METRES, a window around one feature")
    args = ap.parse_args()

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    layers = _layers(args.gpkg.resolve())
    project = QgsProject.instance()
    for layer in layers:
        project.addMapLayer(layer)
        fields = [f.name() for f in layer.fields() if f.name() not in ("fid",)]
        aliased = [f for f in fields if layer.attributeAlias(layer.fields().indexOf(f))]
        renderer = layer.renderer().type() if layer.renderer() else None
        print(
            f"  {layer.name():16s} {QgsWkbTypes.displayString(layer.wkbType()):16s} "
            f"{layer.featureCount():7d} features  renderer={renderer}  "
            f"aliases {len(aliased)}/{len(fields)}  crs={layer.crs().authid()}"
        )
    settings = QgsMapSettings()
    settings.setLayers(list(reversed(layers)))  # first in the list is drawn on top
    settings.setOutputSize(QSize(args.width, args.height))
    settings.setBackgroundColor(QColor(255, 255, 255))
    crs = layers[0].crs() if layers else QgsCoordinateReferenceSystem("EPSG:4326")
    if crs.isGeographic():  # draw in Web Mercator so the map is not stretched
        crs = QgsCoordinateReferenceSystem("EPSG:3857")
    settings.setDestinationCrs(crs)
    extent = QgsRectangle()
    extent.setMinimal()
    for layer in layers:
        if layer.featureCount():
            tr = QgsCoordinateTransform(layer.crs(), crs, project)
            extent.combineExtentWith(tr.transformBoundingBox(layer.extent()))
    if args.zoom:
        name, index, metres = args.zoom.split(":")
        layer = next(lyr for lyr in layers if lyr.name() == name)
        feats = list(layer.getFeatures())
        tr = QgsCoordinateTransform(layer.crs(), crs, project)
        centre = tr.transform(feats[int(index)].geometry().centroid().asPoint())
        half = float(metres) / 2
        ratio = args.height / args.width
        extent = QgsRectangle(
            centre.x() - half,
            centre.y() - half * ratio,
            centre.x() + half,
            centre.y() + half * ratio,
        )
    else:
        extent.scale(1.05)
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(args.png), "png")
    print(f"  wrote {args.png} at 1:{settings.scale():,.0f}")
    app.exitQgis()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
