"""ICD-10 diagnosis codes: the reference list claims are checked against, in ``shared.icd10_codes``.

schemehost ships a documented subset of the WHO ICD-10 (2019) classification: about 400 codes, the
three-character categories (and a few four-character subcategories) most often seen on claims of
primary-care and district facilities — infections and parasites, maternal and child health, injuries,
chronic diseases, common symptoms and the Z codes of check-ups and contraception. Every code of this
list is a valid ICD-10 code with its WHO title (English).

The control revision c0006 creates ``shared.icd10_codes`` (read by every tenant, written by nobody
but the operator) and loads this list. An operator who holds the full classification (the WHO's
ClaML or a national tabulation) loads it from a CSV file of ``code,title`` lines with
``schemehost claims icd10-load FILE`` (:func:`read_csv`, :func:`load`); codes already present keep
their row and get the new title (decision 0312).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from sqlalchemy import Column, Connection, MetaData, String, Table, select, text

from schemehost.platform.db import any_of

#: ``A00``, ``A09.0``, ``O80`` ... (a letter, two digits, optionally a dot and one or two characters)
CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,2})?$")

CODES = Table("icd10_codes", MetaData(schema="shared"),
              Column("code", String(10), primary_key=True), Column("title", String(255), nullable=False))

SUBSET = """\
A00\tCholera
A01.0\tTyphoid fever
A02\tOther salmonella infections
A03\tShigellosis
A04\tOther bacterial intestinal infections
A06\tAmoebiasis
A07\tOther protozoal intestinal diseases
A08\tViral and other specified intestinal infections
A09\tOther gastroenteritis and colitis of infectious and unspecified origin
A15\tRespiratory tuberculosis, bacteriologically and histologically confirmed
A16\tRespiratory tuberculosis, not confirmed bacteriologically or histologically
A17\tTuberculosis of nervous system
A18\tTuberculosis of other organs
A19\tMiliary tuberculosis
A20\tPlague
A22\tAnthrax
A27\tLeptospirosis
A30\tLeprosy [Hansen disease]
A33\tTetanus neonatorum
A35\tOther tetanus
A36\tDiphtheria
A37\tWhooping cough
A38\tScarlet fever
A39\tMeningococcal infection
A40\tStreptococcal sepsis
A41\tOther sepsis
A46\tErysipelas
A49\tBacterial infection of unspecified site
A50\tCongenital syphilis
A51\tEarly syphilis
A53\tOther and unspecified syphilis
A54\tGonococcal infection
A56\tOther sexually transmitted chlamydial diseases
A59\tTrichomoniasis
A60\tAnogenital herpesviral [herpes simplex] infections
A63\tOther predominantly sexually transmitted diseases, not elsewhere classified
A64\tUnspecified sexually transmitted disease
A71\tTrachoma
A75\tTyphus fever
A82\tRabies
A90\tDengue fever [classical dengue]
A91\tDengue haemorrhagic fever
A92\tOther mosquito-borne viral fevers
A95\tYellow fever
A98\tOther viral haemorrhagic fevers, not elsewhere classified
B01\tVaricella [chickenpox]
B02\tZoster [herpes zoster]
B05\tMeasles
B06\tRubella [German measles]
B15\tAcute hepatitis A
B16\tAcute hepatitis B
B17\tOther acute viral hepatitis
B18\tChronic viral hepatitis
B19\tUnspecified viral hepatitis
B20\tHuman immunodeficiency virus [HIV] disease resulting in infectious and parasitic diseases
B22\tHuman immunodeficiency virus [HIV] disease resulting in other specified diseases
B24\tUnspecified human immunodeficiency virus [HIV] disease
B26\tMumps
B30\tViral conjunctivitis
B34\tViral infection of unspecified site
B35\tDermatophytosis
B36\tOther superficial mycoses
B37\tCandidiasis
B50\tPlasmodium falciparum malaria
B50.0\tPlasmodium falciparum malaria with cerebral complications
B50.9\tPlasmodium falciparum malaria, unspecified
B51\tPlasmodium vivax malaria
B52\tPlasmodium malariae malaria
B53\tOther parasitologically confirmed malaria
B54\tUnspecified malaria
B55\tLeishmaniasis
B56\tAfrican trypanosomiasis
B57\tChagas disease
B65\tSchistosomiasis [bilharziasis]
B67\tEchinococcosis
B68\tTaeniasis
B73\tOnchocerciasis
B74\tFilariasis
B76\tHookworm diseases
B77\tAscariasis
B79\tTrichuriasis
B80\tEnterobiasis
B82\tUnspecified intestinal parasitism
B83\tOther helminthiases
B85\tPediculosis and phthiriasis
B86\tScabies
B99\tOther and unspecified infectious diseases
C16\tMalignant neoplasm of stomach
C18\tMalignant neoplasm of colon
C22\tMalignant neoplasm of liver and intrahepatic bile ducts
C34\tMalignant neoplasm of bronchus and lung
C46\tKaposi sarcoma
C50\tMalignant neoplasm of breast
C53\tMalignant neoplasm of cervix uteri
C61\tMalignant neoplasm of prostate
C80\tMalignant neoplasm, without specification of site
C95\tLeukaemia of unspecified cell type
D25\tLeiomyoma of uterus
D36\tBenign neoplasm of other and unspecified sites
D50\tIron deficiency anaemia
D51\tVitamin B12 deficiency anaemia
D52\tFolate deficiency anaemia
D53\tOther nutritional anaemias
D57\tSickle-cell disorders
D64\tOther anaemias
D69\tPurpura and other haemorrhagic conditions
E03\tOther hypothyroidism
E04\tOther nontoxic goitre
E05\tThyrotoxicosis [hyperthyroidism]
E10\tType 1 diabetes mellitus
E11\tType 2 diabetes mellitus
E14\tUnspecified diabetes mellitus
E16\tOther disorders of pancreatic internal secretion
E40\tKwashiorkor
E41\tNutritional marasmus
E43\tUnspecified severe protein-energy malnutrition
E44\tProtein-energy malnutrition of moderate and mild degree
E46\tUnspecified protein-energy malnutrition
E50\tVitamin A deficiency
E55\tVitamin D deficiency
E66\tObesity
E78\tDisorders of lipoprotein metabolism and other lipidaemias
E86\tVolume depletion
E87\tOther disorders of fluid, electrolyte and acid-base balance
F10\tMental and behavioural disorders due to use of alcohol
F20\tSchizophrenia
F31\tBipolar affective disorder
F32\tDepressive episode
F41\tOther anxiety disorders
F43\tReaction to severe stress, and adjustment disorders
F99\tMental disorder, not otherwise specified
G03\tMeningitis due to other and unspecified causes
G04\tEncephalitis, myelitis and encephalomyelitis
G40\tEpilepsy
G43\tMigraine
G44\tOther headache syndromes
G51\tFacial nerve disorders
G56\tMononeuropathies of upper limb
G62\tOther polyneuropathies
G80\tCerebral palsy
H00\tHordeolum and chalazion
H10\tConjunctivitis
H16\tKeratitis
H25\tSenile cataract
H26\tOther cataract
H40\tGlaucoma
H52\tDisorders of refraction and accommodation
H54\tVisual impairment including blindness (binocular or monocular)
H60\tOtitis externa
H65\tNonsuppurative otitis media
H66\tSuppurative and unspecified otitis media
H91\tOther hearing loss
H92\tOtalgia and effusion of ear
I10\tEssential (primary) hypertension
I11\tHypertensive heart disease
I20\tAngina pectoris
I21\tAcute myocardial infarction
I25\tChronic ischaemic heart disease
I26\tPulmonary embolism
I42\tCardiomyopathy
I48\tAtrial fibrillation and flutter
I50\tHeart failure
I61\tIntracerebral haemorrhage
I63\tCerebral infarction
I64\tStroke, not specified as haemorrhage or infarction
I80\tPhlebitis and thrombophlebitis
I83\tVaricose veins of lower extremities
I84\tHaemorrhoids
I95\tHypotension
J00\tAcute nasopharyngitis [common cold]
J01\tAcute sinusitis
J02\tAcute pharyngitis
J03\tAcute tonsillitis
J04\tAcute laryngitis and tracheitis
J05\tAcute obstructive laryngitis [croup] and epiglottitis
J06\tAcute upper respiratory infections of multiple and unspecified sites
J11\tInfluenza, virus not identified
J12\tViral pneumonia, not elsewhere classified
J13\tPneumonia due to Streptococcus pneumoniae
J15\tBacterial pneumonia, not elsewhere classified
J18\tPneumonia, organism unspecified
J20\tAcute bronchitis
J21\tAcute bronchiolitis
J22\tUnspecified acute lower respiratory infection
J30\tVasomotor and allergic rhinitis
J31\tChronic rhinitis, nasopharyngitis and pharyngitis
J32\tChronic sinusitis
J35\tChronic diseases of tonsils and adenoids
J40\tBronchitis, not specified as acute or chronic
J44\tOther chronic obstructive pulmonary disease
J45\tAsthma
J46\tStatus asthmaticus
J81\tPulmonary oedema
J90\tPleural effusion, not elsewhere classified
J96\tRespiratory failure, not elsewhere classified
K02\tDental caries
K04\tDiseases of pulp and periapical tissues
K05\tGingivitis and periodontal diseases
K08\tOther disorders of teeth and supporting structures
K12\tStomatitis and related lesions
K21\tGastro-oesophageal reflux disease
K25\tGastric ulcer
K26\tDuodenal ulcer
K27\tPeptic ulcer, site unspecified
K29\tGastritis and duodenitis
K30\tFunctional dyspepsia
K35\tAcute appendicitis
K37\tUnspecified appendicitis
K40\tInguinal hernia
K42\tUmbilical hernia
K46\tUnspecified abdominal hernia
K52\tOther noninfective gastroenteritis and colitis
K56\tParalytic ileus and intestinal obstruction without hernia
K59\tOther functional intestinal disorders
K60\tFissure and fistula of anal and rectal regions
K70\tAlcoholic liver disease
K74\tFibrosis and cirrhosis of liver
K76\tOther diseases of liver
K80\tCholelithiasis
K81\tCholecystitis
K85\tAcute pancreatitis
K92\tOther diseases of digestive system
L01\tImpetigo
L02\tCutaneous abscess, furuncle and carbuncle
L03\tCellulitis
L08\tOther local infections of skin and subcutaneous tissue
L20\tAtopic dermatitis
L23\tAllergic contact dermatitis
L30\tOther dermatitis
L50\tUrticaria
L70\tAcne
L89\tDecubitus ulcer and pressure area
L97\tUlcer of lower limb, not elsewhere classified
M06\tOther rheumatoid arthritis
M10\tGout
M13\tOther arthritis
M17\tGonarthrosis [arthrosis of knee]
M19\tOther arthrosis
M25\tOther joint disorders, not elsewhere classified
M54\tDorsalgia
M79\tOther soft tissue disorders, not elsewhere classified
M86\tOsteomyelitis
N10\tAcute tubulo-interstitial nephritis
N17\tAcute renal failure
N18\tChronic kidney disease
N20\tCalculus of kidney and ureter
N30\tCystitis
N39\tOther disorders of urinary system
N40\tHyperplasia of prostate
N45\tOrchitis and epididymitis
N61\tInflammatory disorders of breast
N70\tSalpingitis and oophoritis
N73\tOther female pelvic inflammatory diseases
N76\tOther inflammation of vagina and vulva
N83\tNoninflammatory disorders of ovary, fallopian tube and broad ligament
N92\tExcessive, frequent and irregular menstruation
N94\tPain and other conditions associated with female genital organs and menstrual cycle
N97\tFemale infertility
O00\tEctopic pregnancy
O02\tOther abnormal products of conception
O03\tSpontaneous abortion
O04\tMedical abortion
O06\tUnspecified abortion
O10\tPre-existing hypertension complicating pregnancy, childbirth and the puerperium
O13\tGestational [pregnancy-induced] hypertension
O14\tPre-eclampsia
O15\tEclampsia
O20\tHaemorrhage in early pregnancy
O21\tExcessive vomiting in pregnancy
O23\tInfections of genitourinary tract in pregnancy
O24\tDiabetes mellitus in pregnancy
O26\tMaternal care for other conditions predominantly related to pregnancy
O30\tMultiple gestation
O32\tMaternal care for known or suspected malpresentation of fetus
O36\tMaternal care for other known or suspected fetal problems
O41\tOther disorders of amniotic fluid and membranes
O42\tPremature rupture of membranes
O44\tPlacenta praevia
O45\tPremature separation of placenta [abruptio placentae]
O46\tAntepartum haemorrhage, not elsewhere classified
O47\tFalse labour
O48\tProlonged pregnancy
O60\tPreterm labour and delivery
O62\tAbnormalities of forces of labour
O63\tLong labour
O64\tObstructed labour due to malposition and malpresentation of fetus
O65\tObstructed labour due to maternal pelvic abnormality
O66\tOther obstructed labour
O70\tPerineal laceration during delivery
O71\tOther obstetric trauma
O72\tPostpartum haemorrhage
O73\tRetained placenta and membranes, without haemorrhage
O75\tOther complications of labour and delivery, not elsewhere classified
O80\tSingle spontaneous delivery
O81\tSingle delivery by forceps and vacuum extractor
O82\tSingle delivery by caesarean section
O84\tMultiple delivery
O85\tPuerperal sepsis
O86\tOther puerperal infections
O91\tInfections of breast associated with childbirth
O98\tMaternal infectious and parasitic diseases classifiable elsewhere but complicating pregnancy, childbirth and the puerperium
O99\tOther maternal diseases classifiable elsewhere but complicating pregnancy, childbirth and the puerperium
P05\tSlow fetal growth and fetal malnutrition
P07\tDisorders related to short gestation and low birth weight, not elsewhere classified
P21\tBirth asphyxia
P22\tRespiratory distress of newborn
P23\tCongenital pneumonia
P36\tBacterial sepsis of newborn
P38\tOmphalitis of newborn with or without mild haemorrhage
P39\tOther infections specific to the perinatal period
P59\tNeonatal jaundice from other and unspecified causes
P92\tFeeding problems of newborn
Q21\tCongenital malformations of cardiac septa
Q35\tCleft palate
Q36\tCleft lip
Q53\tUndescended testicle
Q66\tCongenital deformities of feet
Q90\tDown syndrome
R05\tCough
R06\tAbnormalities of breathing
R07\tPain in throat and chest
R10\tAbdominal and pelvic pain
R11\tNausea and vomiting
R17\tUnspecified jaundice
R19\tOther symptoms and signs involving the digestive system and abdomen
R21\tRash and other nonspecific skin eruption
R31\tUnspecified haematuria
R42\tDizziness and giddiness
R50\tFever of other and unknown origin
R51\tHeadache
R52\tPain, not elsewhere classified
R53\tMalaise and fatigue
R55\tSyncope and collapse
R56\tConvulsions, not elsewhere classified
R57\tShock, not elsewhere classified
R62\tLack of expected normal physiological development
R63\tSymptoms and signs concerning food and fluid intake
R69\tUnknown and unspecified causes of morbidity
S00\tSuperficial injury of head
S01\tOpen wound of head
S02\tFracture of skull and facial bones
S06\tIntracranial injury
S09\tOther and unspecified injuries of head
S22\tFracture of rib(s), sternum and thoracic spine
S31\tOpen wound of abdomen, lower back and pelvis
S42\tFracture of shoulder and upper arm
S52\tFracture of forearm
S61\tOpen wound of wrist and hand
S62\tFracture at wrist and hand level
S72\tFracture of femur
S82\tFracture of lower leg, including ankle
S83\tDislocation, sprain and strain of joints and ligaments of knee
S91\tOpen wound of ankle and foot
S93\tDislocation, sprain and strain of joints and ligaments at ankle and foot level
T07\tUnspecified multiple injuries
T14\tInjury of unspecified body region
T15\tForeign body on external eye
T20\tBurn and corrosion of head and neck
T29\tBurns and corrosions of multiple body regions
T30\tBurn and corrosion, body region unspecified
T39\tPoisoning by nonopioid analgesics, antipyretics and antirheumatics
T60\tToxic effect of pesticides
T63\tToxic effect of contact with venomous animals
T78\tAdverse effects, not elsewhere classified
T79\tCertain early complications of trauma, not elsewhere classified
V89\tMotor- or nonmotor-vehicle accident, type of vehicle unspecified
W19\tUnspecified fall
W54\tBitten or struck by dog
W57\tBitten or stung by nonvenomous insect and other nonvenomous arthropods
X20\tContact with venomous snakes and lizards
X59\tExposure to unspecified factor
Y09\tAssault by unspecified means
Z00\tGeneral examination and investigation of persons without complaint and reported diagnosis
Z01\tOther special examinations and investigations of persons without complaint or reported diagnosis
Z09\tFollow-up examination after treatment for conditions other than malignant neoplasms
Z11\tSpecial screening examination for infectious and parasitic diseases
Z12\tSpecial screening examination for neoplasms
Z13\tSpecial screening examination for other diseases and disorders
Z21\tAsymptomatic human immunodeficiency virus [HIV] infection status
Z23\tNeed for immunization against single bacterial diseases
Z24\tNeed for immunization against certain single viral diseases
Z27\tNeed for immunization against combinations of infectious diseases
Z29\tNeed for other prophylactic measures
Z30\tContraceptive management
Z32\tPregnancy examination and test
Z33\tPregnant state, incidental
Z34\tSupervision of normal pregnancy
Z35\tSupervision of high-risk pregnancy
Z36\tAntenatal screening
Z37\tOutcome of delivery
Z38\tLiveborn infants according to place of birth
Z39\tPostpartum care and examination
Z48\tOther surgical follow-up care
Z51\tOther medical care
Z71\tPersons encountering health services for other counselling and medical advice, not elsewhere classified
Z76\tPersons encountering health services in other circumstances
"""


def subset() -> list[tuple[str, str]]:
    """The shipped list as (code, title) pairs."""
    return [tuple(line.split("\t", 1)) for line in SUBSET.splitlines() if line.strip()]  # type: ignore[misc]


def read_csv(data: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(code, title) pairs of a ``code,title`` CSV (a header line is skipped) and the problems found,
    one per bad line ("line 7: ..."). Codes are upper-cased; a code without its dot (``A090``) gets one."""
    rows, problems = [], []
    for n, record in enumerate(csv.reader(io.StringIO(data)), start=1):
        if not record or not "".join(record).strip():
            continue
        code = record[0].strip().upper()
        if n == 1 and not CODE_RE.match(code) and code.lower() in ("code", "icd", "icd10", "icd_code"):
            continue
        if len(code) > 3 and "." not in code:
            code = f"{code[:3]}.{code[3:]}"
        title = record[1].strip() if len(record) > 1 else ""
        if not CODE_RE.match(code):
            problems.append(f"line {n}: '{record[0][:20]}' is not an ICD-10 code")
        elif not title or len(title) > 255:
            problems.append(f"line {n}: a title of 1 to 255 characters is needed")
        else:
            rows.append((code, title))
    return rows, problems


def load(conn: Connection, rows: Iterable[tuple[str, str]]) -> int:
    """Insert or update these codes in ``shared.icd10_codes`` (on the control connection, as the
    operator); returns how many rows were given."""
    values = [{"code": code, "title": title} for code, title in rows]
    if values:
        conn.execute(text("INSERT INTO shared.icd10_codes (code, title) VALUES (:code, :title) "
                          "ON CONFLICT (code) DO UPDATE SET title = EXCLUDED.title"), values)
    return len(values)


def unknown(session, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` are not in the reference list (one query)."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return set()
    known = set(session.execute(select(CODES.c.code).where(any_of(CODES.c.code, wanted))).scalars())
    return set(wanted) - known


def search(session, prefix: str, *, limit: int = 20) -> list[tuple[str, str]]:
    """Codes starting with ``prefix`` (or whose title contains it), for the console's suggestions."""
    term = prefix.strip().upper()[:10]
    if not term:
        return []
    stmt = (select(CODES.c.code, CODES.c.title)
            .where(CODES.c.code.startswith(term, autoescape=True)
                   | CODES.c.title.icontains(prefix.strip()[:40], autoescape=True))
            .order_by(CODES.c.code).limit(limit))
    return [(r.code, r.title) for r in session.execute(stmt)]
