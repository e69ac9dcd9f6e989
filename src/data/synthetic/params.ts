// Every parameter of the synthetic cephalograms' variation, in one place: what each effect imitates and its range.
// docs/synthetic.md explains them (the README shows pictures). Lengths are in pixels of the 1935x2400 reference frame (0.1 mm) unless
// a name says mm; [a, b] is a uniform range, a single number a Gaussian's standard deviation.

/** The per-image shape modes of the anatomy (modes.ts), applied before the pose. */
export const SHAPE_MODES = {
  /** Cranial vault length and height, scaled about the front of the cranial base (long and short skulls). */
  vaultScaleX: [0.93, 1.05],
  vaultScaleY: [0.94, 1.06],
  /** Lower face height: everything of the face below the palate scaled vertically about ANS (short to long faces). */
  lowerFaceScale: [0.92, 1.1],
  /** Mouth opening: the share of images with the mouth open, and the mandible's rotation about the condyle (deg). */
  mouthOpenShare: 0.25,
  mouthOpenDeg: [1.5, 5],
  /** How far the lower lip and the soft chin follow the mandible's rotation. */
  softTissueFollow: 0.8,
  /** Neck flexion: the cervical spine rotated about the top of C2 (deg, Gaussian). */
  neckFlexionDeg: 4,
} as const;

/** The head's placement in the cephalostat (anatomy.ts drawPose). */
export const POSE = {
  /** Tilt in the image plane (deg). */
  tiltDeg: [-6, 6],
  /** Head size: age and sex (a child's head is smaller), and the magnification of the machine. */
  scale: [0.88, 1.06],
  /** Position (Gaussian, reference pixels). */
  shift: 30,
  /** Landmarks are moved at least this far (share of the image's side) inside the image when the draw puts them out. */
  margin: 0.02,
} as const;

/**
 * Bilateral structures drawn twice (bilateral.ts): the far side of the head is further from the detector, so it is
 * magnified more about the central ray (through the ear rods), and a head turned or rolled in the cephalostat shifts
 * it. Half-widths are each structure's distance from the mid-sagittal plane (mm); the mandible's narrows to 0 at the
 * chin (the symphysis is single).
 */
export const BILATERAL = {
  /** Source to mid-sagittal plane distance (mm): the far side's extra magnification is 2 * halfWidth / this. */
  sourceDistanceMm: 1500,
  /** Head rotation about the vertical axis (yaw) and the front-back axis (roll), Gaussian (deg). */
  yawDeg: 1.2,
  rollDeg: 0.8,
  halfWidthMm: { ear: 75, mandible: 48, orbit: 33 },
  /** The far side's stroke, relative to the near side's. */
  farAmplitude: [0.5, 0.85],
} as const;

/** Image quality (quality.ts, render.ts), drawn per image. */
export const QUALITY = {
  /** Blur (std in pixels of a 640-wide image): focal spot and detector. */
  blur: [0.6, 2.4],
  /** Exposure: gain, gamma and black level of the output mapping (8-bit levels). */
  gain: [0.65, 1.35],
  gamma: [0.7, 1.4],
  blackLevel: [0, 24],
  /** A smooth multiplicative field over the image (heel effect, uneven detector). */
  field: [0.82, 1.18],
  /** Quantum noise: std = quantum * 255 * sqrt(level / 255), plus electronic noise (8-bit levels). */
  quantum: [0.01, 0.055],
  electronic: [1, 4],
  /** Scatter haze: a share of a very blurred copy (std 40 px of a 640-wide image) added, lowering contrast. */
  haze: [0, 0.45],
  hazeBlur: 40,
  /** Burnt-out soft tissue: share of images, and the factor on the soft tissue's fill and profile there. */
  burntShare: 0.25,
  burntFactor: [0.4, 0.8],
  /** Weak edges: a factor per image on the thin, faint cortices (orbit, maxilla, basiocciput, palate, coronoid). */
  weakEdge: [0.3, 1],
  /** Collimation: share of images with an unexposed (bright) border, and its depth per side (share of the side). */
  collimationShare: 0.5,
  collimationLeft: [0.02, 0.14],
  collimationTop: [0, 0.08],
  /**
   * Poor images (an old machine, a moving patient): in this share of the images the blur and the quantum noise are
   * doubled, poorHaze more haze added, and the thin cortices faded by poorWeakEdge on top of the draws above.
   */
  poorShare: 0.08,
  poorHaze: 0.3,
  poorWeakEdge: 0.6,
} as const;

/** Bright occluders (quality.ts), each in a share of the images. */
export const OCCLUDERS = {
  /** Metal fillings in 1..3 molars. */
  fillingShare: 0.35,
  /** Orthodontic brackets on the incisors, molar bands and the arch wire. */
  bracesShare: 0.15,
  /** The nasion relator's ruler in front of the face, with a tick every 10 mm. */
  rulerShare: 0.3,
  /** A label or marker in a corner. */
  labelShare: 0.3,
} as const;

/**
 * The simulated annotators (landmarks.ts), per landmark in ISBI order: the std of a click along the defining contour
 * and across it (mm), chosen to resemble ISBI 2015's inter-observer spread (sharp points well under 1 mm apart, the
 * ear, gonion, orbit and soft-tissue points several times more). On a bilateral landmark an annotator aims midway
 * between the near and the far side's contour (ISBI's convention), off by farAim (a share of the way, Gaussian). A gross click (a wrong part of the contour) moves a click by grossMm along the
 * contour, in grossShare of the clicks (grossBoost times more on the ambiguous landmarks).
 */
export const ANNOTATORS = {
  noiseMm: [
    [0.35, 0.3], // sella
    [0.6, 0.35], // nasion
    [1.1, 0.6], // orbitale
    [1.0, 0.6], // porion
    [1.0, 0.45], // A point
    [1.0, 0.45], // B point
    [1.0, 0.35], // pogonion
    [0.8, 0.35], // menton
    [0.8, 0.35], // gnathion
    [1.6, 0.6], // gonion
    [0.35, 0.3], // lower incisal incision
    [0.35, 0.3], // upper incisal incision
    [0.7, 0.3], // upper lip
    [0.7, 0.3], // lower lip
    [0.6, 0.4], // subnasale
    [1.4, 0.5], // soft tissue pogonion
    [1.2, 0.6], // posterior nasal spine
    [1.0, 0.5], // anterior nasal spine
    [1.0, 0.6], // articulare
  ] as readonly (readonly [number, number])[],
  /**
   * Annotators are less sure on a poor image: each landmark's noise is multiplied by hazeBase + the image's haze, and
   * on the landmarks of faint cortices (orbitale, A point, PNS, ANS, articulare) by 1.5 - weakEdge / 2, on the
   * soft-tissue landmarks (lips, subnasale, soft pogonion) by 1.6 - 0.6 * softTissue (QUALITY's draws).
   */
  hazeBase: 0.85,
  weakEdgeLandmarks: [2, 4, 16, 17, 18] as readonly number[],
  softTissueLandmarks: [12, 13, 14, 15] as readonly number[],
  /** Landmarks past the 19 (extra ones along contours). */
  extraNoiseMm: [1.0, 0.4] as readonly [number, number],
  /** Landmarks (0-based, ISBI order) on bilateral structures: orbitale, porion, gonion, articulare. */
  bilateral: [2, 3, 9, 18] as readonly number[],
  farAim: 0.2,
  grossShare: 0.0015,
  grossBoost: 3,
  /** Landmarks where gross clicks are grossBoost times likelier: orbitale, porion, gonion, soft pogonion, PNS, articulare. */
  ambiguous: [2, 3, 9, 15, 16, 18] as readonly number[],
  grossMm: [3, 9],
} as const;

