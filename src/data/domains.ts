/**
 * The MMLU subjects grouped into the 17 subcategories of the MMLU paper
 * (Hendrycks et al., ICLR 2021): the `subcategories` table of the paper's
 * evaluation code (hendrycks/test, `categories.py`), copied as data. The
 * `paper` scenario gives each owner's agent one of these domains.
 */

/** Where {@link SUBJECT_DOMAINS} comes from, printed with every run that uses it. */
export const DOMAIN_SOURCE = 'the 17 subcategories of the MMLU paper (Hendrycks et al., ICLR 2021; hendrycks/test categories.py)'

/** MMLU subject → domain. */
export const SUBJECT_DOMAINS: Readonly<Record<string, string>> = {
  abstract_algebra: 'math',
  anatomy: 'health',
  astronomy: 'physics',
  business_ethics: 'business',
  clinical_knowledge: 'health',
  college_biology: 'biology',
  college_chemistry: 'chemistry',
  college_computer_science: 'computer science',
  college_mathematics: 'math',
  college_medicine: 'health',
  college_physics: 'physics',
  computer_security: 'computer science',
  conceptual_physics: 'physics',
  econometrics: 'economics',
  electrical_engineering: 'engineering',
  elementary_mathematics: 'math',
  formal_logic: 'philosophy',
  global_facts: 'other',
  high_school_biology: 'biology',
  high_school_chemistry: 'chemistry',
  high_school_computer_science: 'computer science',
  high_school_european_history: 'history',
  high_school_geography: 'geography',
  high_school_government_and_politics: 'politics',
  high_school_macroeconomics: 'economics',
  high_school_mathematics: 'math',
  high_school_microeconomics: 'economics',
  high_school_physics: 'physics',
  high_school_psychology: 'psychology',
  high_school_statistics: 'math',
  high_school_us_history: 'history',
  high_school_world_history: 'history',
  human_aging: 'health',
  human_sexuality: 'culture',
  international_law: 'law',
  jurisprudence: 'law',
  logical_fallacies: 'philosophy',
  machine_learning: 'computer science',
  management: 'business',
  marketing: 'business',
  medical_genetics: 'health',
  miscellaneous: 'other',
  moral_disputes: 'philosophy',
  moral_scenarios: 'philosophy',
  nutrition: 'health',
  philosophy: 'philosophy',
  prehistory: 'history',
  professional_accounting: 'other',
  professional_law: 'law',
  professional_medicine: 'health',
  professional_psychology: 'psychology',
  public_relations: 'politics',
  security_studies: 'politics',
  sociology: 'culture',
  us_foreign_policy: 'politics',
  virology: 'health',
  world_religions: 'philosophy'
}

/**
 * The domains of `subjects` and the subjects of each, in sorted order. A
 * subject outside the table (the synthetic workload's) is a domain of its own.
 */
export function domainsOf (subjects: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const s of [...subjects].sort()) {
    const d = SUBJECT_DOMAINS[s] ?? s
    const list = out.get(d)
    if (list === undefined) out.set(d, [s])
    else list.push(s)
  }
  return new Map([...out].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
}
