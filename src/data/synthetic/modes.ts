// The shape modes of the synthetic anatomy: per-image changes of the whole skull's proportions (long or short vault,
// long or short lower face, mouth open or closed, neck flexed or extended), applied to buildAnatomy's control points
// in the reference frame before the pose. Parameters: SHAPE_MODES in params.ts.
import type { Rng } from '../../engine/random.ts';
import { pt } from './geometry.ts';
import type { CurveSpec, Pt } from './geometry.ts';
import { SHAPE_MODES as M } from './params.ts';

export interface ShapeModes {
  vaultScaleX: number;
  vaultScaleY: number;
  lowerFaceScale: number;
  /** Mandible rotation about the condyle (radians; 0: mouth closed). */
  mouthOpen: number;
  neckFlexion: number;
}

export function drawShapeModes(rng: Rng): ShapeModes {
  const open = rng.uniform() < M.mouthOpenShare;
  const openDeg = rng.uniform(...M.mouthOpenDeg);
  return {
    vaultScaleX: rng.uniform(...M.vaultScaleX),
    vaultScaleY: rng.uniform(...M.vaultScaleY),
    lowerFaceScale: rng.uniform(...M.lowerFaceScale),
    mouthOpen: open ? (openDeg * Math.PI) / 180 : 0,
    neckFlexion: (rng.normal(M.neckFlexionDeg) * Math.PI) / 180,
  };
}

/** Soft-profile control points from the lower lip to the soft-tissue menton: they follow the mandible. */
const SOFT_CHIN = [14, 15, 16, 17, 18, 19, 20, 21];
/** The top of C2, about which the cervical spine flexes. */
const NECK_PIVOT = pt(540, 1480);

/** Applies the modes to the specs' control points, in place (shared points moved once per mode). */
export function applyShapeModes(specs: CurveSpec[], modes: ShapeModes): void {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const curve = (name: string): Pt[] => {
    const s = byName.get(name);
    if (!s) throw new Error(`synthetic: no curve ${name}`);
    return s.points;
  };
  const names = specs.map((s) => s.name);
  const condyle = curve('mandible')[0];
  const articulare = curve('mandible')[2];
  const ans = curve('palate')[4];
  const cranialFront = curve('cranialBase')[0];

  // The vault from the forehead back (the nasal and frontal bones and nasion stay with the face).
  const vault = unique([curve('vault').slice(4), curve('vaultInner'), curve('scalp')]);
  transform(vault, (p) => pt(cranialFront.x + modes.vaultScaleX * (p.x - cranialFront.x), cranialFront.y + modes.vaultScaleY * (p.y - cranialFront.y)));

  // The face below the palate (ANS's level) stretched or shortened vertically.
  const faceNames = ['maxilla', 'upperIncisor', 'lowerIncisor', 'mandible', 'ramusAnterior', 'softProfile', 'midface', 'palate'];
  const face = unique([...faceNames.map(curve), ...names.filter((n) => n.includes('Molar')).map(curve)]).filter((p) => p.y > ans.y && p !== ans);
  transform(face, (p) => pt(p.x, ans.y + modes.lowerFaceScale * (p.y - ans.y)));

  // The mandible and what rides on it rotate about the condyle (articulare stays: it is where the ramus meets the
  // skull base's shadow).
  const lowerJaw = unique([curve('mandible'), curve('ramusAnterior'), curve('lowerIncisor'), ...names.filter((n) => n.startsWith('lowerMolar')).map(curve)]);
  transform(
    lowerJaw.filter((p) => p !== condyle && p !== articulare),
    (p) => rotated(p, condyle, modes.mouthOpen),
  );
  const soft = curve('softProfile');
  transform(
    SOFT_CHIN.map((i) => soft[i]),
    (p) => rotated(p, condyle, modes.mouthOpen * M.softTissueFollow),
  );

  const spine = unique(names.filter((n) => n.startsWith('vertebra')).map(curve));
  transform(spine, (p) => rotated(p, NECK_PIVOT, modes.neckFlexion));
}

/** The distinct point objects of the lists (shared points once). */
function unique(lists: Pt[][]): Pt[] {
  return [...new Set(lists.flat())];
}

function transform(points: Pt[], f: (p: Pt) => Pt): void {
  for (const p of points) {
    const q = f(p);
    p.x = q.x;
    p.y = q.y;
  }
}

/** p rotated about c by a (radians; positive turns +x towards +y, which opens the mouth of a face to the right). */
function rotated(p: Pt, c: Pt, a: number): Pt {
  const dx = p.x - c.x;
  const dy = p.y - c.y;
  return pt(c.x + Math.cos(a) * dx - Math.sin(a) * dy, c.y + Math.sin(a) * dx + Math.cos(a) * dy);
}
