//! Validation that follows the change, not the document.
//!
//! [`read_within`](super::read_within) checks a live document by turning the whole of it into
//! JSON, typing it and running its `check()`: on a register with thousands of assessments that
//! is tens of milliseconds for every keystroke anyone makes. A [`Checker`] gives the same
//! verdict from what a change touched:
//!
//! - It keeps an index of the document as it last accepted it (at those heads): every item of
//!   the kind's top-level lists by automerge object, with its id, its size and any second
//!   value that must be unique (a KPI's measurement per period), and the small top-level
//!   sections (a register's matrix, an SLA's term) as JSON.
//! - For a change it reads the change's operations, places each one (which item of which list,
//!   or which section), and reads only those items and sections, plus the items they refer to
//!   (an assessment's risk). It runs the same typing and the same `check()` on that small
//!   document and keeps the problems of what was touched, with the paths of the real document;
//!   then it checks what only the whole document knows from the index: ids unique in their
//!   list, second values unique, the total size.
//! - What cannot be judged from the parts falls back to the whole-document check, which also
//!   rebuilds the index: removing or replacing an item (something may refer to it), changing an
//!   existing item's id, replacing a list, a section everything depends on (the matrix
//!   assessments are scored on), an operation on something no longer visible, and any index
//!   not at the heads the change started from (a rolled-back batch, changes stored by another
//!   node).
//!
//! The whole-document check is the reference: `tests::incremental_agrees_with_the_whole`
//! compares the two on random edit sequences.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc};
use serde_json::{Map, Value};

use super::check::Problem;
use super::limits::{self, Limits};
use super::{object_json, read_json, to_json};
use crate::model::DocumentKind;

/// A second value an item of a list must not share with another: its key and, for a clash,
/// the field to name and the message.
type AlsoUnique = fn(&Value) -> Option<(String, &'static str, String)>;

/// A top-level list of items with ids, checked item by item.
struct List {
    key: &'static str,
    /// Fields of an item naming items (by id) of a list: a string or a list of strings.
    refs: &'static [(&'static str, &'static str)],
    also_unique: Option<AlsoUnique>,
}

/// What a kind's document holds, for this purpose.
struct Spec {
    lists: &'static [List],
    /// Sections whose change can make any item wrong: checked whole.
    whole: &'static [&'static str],
}

const fn list(key: &'static str, refs: &'static [(&'static str, &'static str)]) -> List {
    List {
        key,
        refs,
        also_unique: None,
    }
}

fn measurement_period(m: &Value) -> Option<(String, &'static str, String)> {
    let kpi = m.get("kpiId")?.as_str()?;
    let period = m.get("period")?.as_str()?;
    Some((
        format!("{kpi}\u{0}{period}"),
        "period",
        format!("KPI {kpi:?} already has a measurement for {period}"),
    ))
}

static RISK: Spec = Spec {
    lists: &[
        list("risks", &[("related", "risks")]),
        list("assessments", &[("riskId", "risks")]),
        list("actions", &[("riskId", "risks")]),
    ],
    whole: &["matrix"],
};

static SLA: Spec = Spec {
    lists: &[
        list("kpis", &[]),
        List {
            key: "measurements",
            refs: &[("kpiId", "kpis")],
            also_unique: Some(measurement_period),
        },
        list("costShares", &[]),
        list("timeAllocations", &[]),
    ],
    whole: &[],
};

static SLA_FIGURES: Spec = Spec {
    lists: &[list("costShares", &[]), list("timeAllocations", &[])],
    whole: &[],
};

static AGREEMENT: Spec = Spec {
    lists: &[
        list("clauses", &[]),
        list(
            "comments",
            &[("clauseId", "clauses"), ("parentId", "comments")],
        ),
    ],
    whole: &[],
};

static MEETING: Spec = Spec {
    lists: &[
        list("agenda", &[]),
        list("decisions", &[("agendaItemId", "agenda")]),
        list("actions", &[]),
    ],
    whole: &[],
};

fn spec(kind: DocumentKind) -> &'static Spec {
    match kind {
        DocumentKind::RiskRegister => &RISK,
        DocumentKind::Sla => &SLA,
        DocumentKind::SlaFigures => &SLA_FIGURES,
        DocumentKind::Agreement => &AGREEMENT,
        DocumentKind::Meeting => &MEETING,
    }
}

impl Spec {
    fn position(&self, key: &str) -> Option<usize> {
        self.lists.iter().position(|l| l.key == key)
    }
}

/// One item of a list, as last accepted.
#[derive(Debug, Clone)]
struct Item {
    id: String,
    also: Option<String>,
    size: usize,
}

#[derive(Debug, Clone, Default)]
struct ListIndex {
    /// The list object; `None` if the document has no such list (yet).
    obj: Option<ObjId>,
    items: HashMap<ObjId, Item>,
    ids: HashMap<String, Vec<ObjId>>,
    also: HashMap<String, usize>,
    /// The sum of the items' sizes.
    size: usize,
    /// An item the list accepted, as JSON: the stand-in for an item a touched one refers to.
    specimen: Option<Value>,
}

impl ListIndex {
    fn add(&mut self, obj: ObjId, item: Item) {
        self.ids
            .entry(item.id.clone())
            .or_default()
            .push(obj.clone());
        if let Some(a) = &item.also {
            *self.also.entry(a.clone()).or_default() += 1;
        }
        self.size = self.size.saturating_add(item.size);
        self.items.insert(obj, item);
    }

    fn remove(&mut self, obj: &ObjId) {
        let Some(item) = self.items.remove(obj) else {
            return;
        };
        if let Some(objs) = self.ids.get_mut(&item.id) {
            objs.retain(|o| o != obj);
            if objs.is_empty() {
                self.ids.remove(&item.id);
            }
        }
        if let Some(a) = &item.also
            && let Some(n) = self.also.get_mut(a)
        {
            *n -= 1;
            if *n == 0 {
                self.also.remove(a);
            }
        }
        self.size = self.size.saturating_sub(item.size);
    }
}

/// The document as last accepted.
#[derive(Debug, Clone)]
struct Index {
    heads: Vec<ChangeHash>,
    /// Every top-level value that is not one of the kind's lists.
    sections: Map<String, Value>,
    lists: Vec<ListIndex>,
}

impl Index {
    /// Indexes a document whose JSON form is `json` (checked whole and found good). `None` if
    /// a list is not a list of maps with ids: then every change is checked whole.
    fn build(doc: &Automerge, json: &Value, spec: &Spec) -> Option<Index> {
        let root = json.as_object()?;
        let mut lists = vec![ListIndex::default(); spec.lists.len()];
        for (l, index) in spec.lists.iter().zip(lists.iter_mut()) {
            let Some(items) = root.get(l.key) else {
                continue;
            };
            let (automerge::Value::Object(ObjType::List), obj) = doc.get(ROOT, l.key).ok()?? else {
                return None;
            };
            let items = items.as_array()?;
            let mut elements = doc.list_range(&obj, ..);
            for item in items {
                let element = elements.next()?;
                let automerge::ValueRef::Object(ObjType::Map) = element.value else {
                    return None;
                };
                index.add(element.id(), item_of(l, item)?);
            }
            index.specimen = items.first().cloned();
            if elements.next().is_some() {
                return None;
            }
            index.obj = Some(obj);
        }
        let sections = root
            .iter()
            .filter(|(k, _)| spec.position(k).is_none())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(Index {
            heads: doc.get_heads(),
            sections,
            lists,
        })
    }

    /// The document's size as [`limits::size`] counts it.
    fn size(&self, spec: &Spec, sections: &Map<String, Value>) -> usize {
        let mut n = 8usize;
        for (k, v) in sections {
            n = n
                .saturating_add(k.chars().count())
                .saturating_add(limits::size(v));
        }
        for (l, index) in spec.lists.iter().zip(&self.lists) {
            if index.obj.is_some() {
                n = n
                    .saturating_add(l.key.chars().count())
                    .saturating_add(8)
                    .saturating_add(index.size);
            }
        }
        n
    }
}

fn item_of(list: &List, json: &Value) -> Option<Item> {
    Some(Item {
        id: json.get("id")?.as_str()?.to_owned(),
        also: list.also_unique.and_then(|f| f(json)).map(|(k, _, _)| k),
        size: limits::size(json),
    })
}

/// How often each path was taken, for tests and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Changes checked from the parts they touched.
    pub incremental: u64,
    /// Changes (or first loads) checked whole.
    pub whole: u64,
}

/// Checks a live document of one kind, change by change (see the module's documentation).
#[derive(Debug)]
pub struct Checker {
    kind: DocumentKind,
    limits: Limits,
    index: Option<Index>,
    counts: Counts,
}

impl Checker {
    pub fn new(kind: DocumentKind, limits: Limits) -> Checker {
        Checker {
            kind,
            limits,
            index: None,
            counts: Counts::default(),
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The document's size as the index has it (tests hold it to the whole count).
    #[cfg(test)]
    fn indexed_size(&self) -> Option<usize> {
        let ix = self.index.as_ref()?;
        Some(ix.size(spec(self.kind), &ix.sections))
    }

    /// The verdict of [`read_within`](super::read_within) on `doc`, which holds the changes
    /// made since `before` on top of what this checker last accepted. Accepting moves the
    /// checker to `doc`'s heads; refusing leaves it where it was (the caller rolls back).
    pub fn check(&mut self, doc: &Automerge, before: &[ChangeHash]) -> Result<(), Vec<Problem>> {
        self.check_inner(doc, before, None)
    }

    /// [`check`](Self::check), given the changes made since `before` (those `doc` did not hold
    /// then, in any order), which the caller has at hand: the document then need not rebuild
    /// them from its operations.
    pub fn check_changes(
        &mut self,
        doc: &Automerge,
        before: &[ChangeHash],
        fresh: &[Change],
    ) -> Result<(), Vec<Problem>> {
        self.check_inner(doc, before, Some(fresh))
    }

    fn check_inner(
        &mut self,
        doc: &Automerge,
        before: &[ChangeHash],
        fresh: Option<&[Change]>,
    ) -> Result<(), Vec<Problem>> {
        if self.index.as_ref().is_some_and(|ix| ix.heads == before)
            && let Some(verdict) = self.incremental(doc, before, fresh)
        {
            self.counts.incremental += 1;
            return verdict;
        }
        self.whole(doc)
    }

    fn whole(&mut self, doc: &Automerge) -> Result<(), Vec<Problem>> {
        self.counts.whole += 1;
        self.index = None;
        let json = to_json(doc);
        limits::check(&json, &self.limits)?;
        let index = Index::build(doc, &json, spec(self.kind));
        read_json(self.kind, json)?;
        self.index = index;
        Ok(())
    }

    /// `None` when the change cannot be judged from its parts.
    fn incremental(
        &mut self,
        doc: &Automerge,
        before: &[ChangeHash],
        fresh: Option<&[Change]>,
    ) -> Option<Result<(), Vec<Problem>>> {
        let spec = spec(self.kind);
        let ix = self.index.as_ref()?;
        let rebuilt;
        let fresh = match fresh {
            Some(fresh) => fresh,
            None => {
                rebuilt = doc.get_changes(before);
                &rebuilt
            }
        };
        let touched = touched(doc, fresh, spec, ix)?;

        // The touched items, where they are now, and their JSON.
        let mut parts: Vec<BTreeMap<usize, Part>> = vec![BTreeMap::new(); spec.lists.len()];
        for (l, objs) in touched.items.iter().enumerate() {
            for (obj, at) in objs {
                let list = ix.lists[l].obj.as_ref()?;
                let at = match at {
                    Some(i) => *i,
                    None => position(doc, obj, list)?,
                };
                parts[l].insert(
                    at,
                    Part {
                        obj: obj.clone(),
                        json: object_json(doc, obj, ObjType::Map),
                    },
                );
            }
        }
        let mut sections = ix.sections.clone();
        for key in &touched.sections {
            match doc.get(ROOT, key.as_str()).ok()? {
                Some((automerge::Value::Object(t), o)) => {
                    sections.insert(key.clone(), object_json(doc, &o, t));
                }
                Some((automerge::Value::Scalar(s), _)) => {
                    sections.insert(key.clone(), serde_json::to_value(&*s).ok()?);
                }
                None => {
                    sections.remove(key);
                }
            }
        }

        // What the touched items refer to, so that the references resolve in the small
        // document as they do in the whole one. An item's rules only ask whether the item it
        // names exists, so a stand-in does: a specimen of the list (an item it accepted) under
        // that id. Its own problems are not the change's and are dropped.
        let mut stand_ins: Vec<Vec<Value>> = vec![Vec::new(); spec.lists.len()];
        for (l, list) in spec.lists.iter().enumerate() {
            for part in parts[l].values() {
                for (field, target) in list.refs {
                    let Some(t) = spec.position(target) else {
                        continue;
                    };
                    let ids: Vec<&str> = match part.json.get(*field) {
                        Some(Value::String(id)) => vec![id.as_str()],
                        Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_str).collect(),
                        _ => continue,
                    };
                    for id in ids {
                        let has = |v: &Value| v.get("id").and_then(Value::as_str) == Some(id);
                        if !ix.lists[t].ids.contains_key(id)
                            || parts[t].values().any(|p| has(&p.json))
                            || stand_ins[t].iter().any(has)
                        {
                            continue;
                        }
                        let Some(mut stand_in) = ix.lists[t].specimen.clone() else {
                            continue;
                        };
                        stand_in["id"] = Value::String(id.to_owned());
                        stand_ins[t].push(stand_in);
                    }
                }
            }
        }

        // The small document, checked as the whole one is; its problems mapped back.
        let mut small = sections.clone();
        let mut places: Vec<Vec<Option<usize>>> = Vec::with_capacity(spec.lists.len());
        for (l, list) in spec.lists.iter().enumerate() {
            let mut at: Vec<Option<usize>> = parts[l].keys().map(|i| Some(*i)).collect();
            at.extend(stand_ins[l].iter().map(|_| None));
            places.push(at);
            if ix.lists[l].obj.is_some() {
                let items = parts[l].values().map(|p| p.json.clone());
                let items = items.chain(std::mem::take(&mut stand_ins[l]));
                small.insert(list.key.to_owned(), Value::Array(items.collect()));
            }
        }
        let small = Value::Object(small);
        let mut problems: Vec<Problem> = limits::texts(&small, &self.limits);
        if problems.is_empty()
            && let Err(found) = read_json(self.kind, small)
        {
            problems = found;
        }
        let mut problems: Vec<Problem> = problems
            .into_iter()
            .filter_map(|p| place_back(p, spec, &places))
            .collect();

        // What only the whole document knows, judged against the index without changing it
        // (a refused change leaves it as it was).
        let mut size = ix.size(spec, &sections);
        let mut updates: Vec<(usize, ObjId, Item)> = Vec::new();
        for (l, list) in spec.lists.iter().enumerate() {
            let index = &ix.lists[l];
            for (i, part) in &parts[l] {
                let Some(item) = item_of(list, &part.json) else {
                    // Typing has said what is wrong with it.
                    continue;
                };
                let old = index.items.get(&part.obj);
                size = size
                    .saturating_sub(old.map_or(0, |o| o.size))
                    .saturating_add(item.size);
                if index
                    .ids
                    .get(&item.id)
                    .is_some_and(|objs| objs.iter().any(|o| *o != part.obj))
                {
                    problems.push(Problem {
                        path: format!("{}[{i}].id", list.key),
                        message: format!("id {:?} is used twice", item.id),
                    });
                }
                if let (Some(a), Some(f)) = (&item.also, list.also_unique) {
                    let mine = usize::from(old.and_then(|o| o.also.as_ref()) == Some(a));
                    if index.also.get(a).copied().unwrap_or(0) > mine
                        && let Some((_, field, message)) = f(&part.json)
                    {
                        problems.push(Problem {
                            path: format!("{}[{i}].{field}", list.key),
                            message,
                        });
                    }
                }
                updates.push((l, part.obj.clone(), item));
            }
        }
        if let Some(p) = limits::total(size, &self.limits) {
            problems.push(p);
        }
        if !problems.is_empty() {
            return Some(Err(problems));
        }
        let ix = self.index.as_mut()?;
        for (l, part) in parts.iter().enumerate() {
            if ix.lists[l].specimen.is_none() {
                ix.lists[l].specimen = part.values().next().map(|p| p.json.clone());
            }
        }
        for (l, obj, item) in updates {
            ix.lists[l].remove(&obj);
            ix.lists[l].add(obj, item);
        }
        ix.sections = sections;
        ix.heads = doc.get_heads();
        Some(Ok(()))
    }
}

/// A touched item, read for the small document.
#[derive(Debug, Clone)]
struct Part {
    obj: ObjId,
    json: Value,
}

/// What a change touched: items by list (with their index in it, where placing an operation
/// told it), and sections.
struct Touched {
    items: Vec<HashMap<ObjId, Option<usize>>>,
    sections: HashSet<String>,
}

/// Places every operation of the `fresh` changes. `None` when one of them needs the
/// whole-document check.
fn touched(doc: &Automerge, fresh: &[Change], spec: &Spec, ix: &Index) -> Option<Touched> {
    use automerge::legacy::{Key, OpType};
    let mut out = Touched {
        items: vec![HashMap::new(); spec.lists.len()],
        sections: HashSet::new(),
    };
    let section = |out: &mut Touched, key: String| -> Option<()> {
        if spec.whole.contains(&key.as_str()) {
            return None;
        }
        out.sections.insert(key);
        Some(())
    };
    // Most operations of a change target the same few objects: place each once.
    let mut placed: HashMap<String, Place> = HashMap::new();
    for change in fresh {
        let change = change.decode();
        let actor = change.actor_id.to_hex_string();
        for (n, op) in change.operations.iter().enumerate() {
            let target = op.obj.to_string();
            if target == "_root" {
                let Key::Map(key) = &op.key else {
                    return None;
                };
                if spec.position(key.as_str()).is_some() {
                    // A whole list put, replaced or removed.
                    return None;
                }
                section(&mut out, key.to_string())?;
                continue;
            }
            let place = match placed.get(&target) {
                Some(p) => p.clone(),
                None => {
                    let p = Place::of(doc, &target)?;
                    placed.insert(target, p.clone());
                    p
                }
            };
            let Some(l) = spec.position(&place.top) else {
                section(&mut out, place.top)?;
                continue;
            };
            let known = |element: &ObjId| ix.lists[l].items.contains_key(element);
            let element = match place.depth {
                // On the list itself: only a new map item is judged by its parts.
                1 if op.insert && matches!(op.action, OpType::Make(ObjType::Map)) => {
                    let counter = change.start_op.get().checked_add(u64::try_from(n).ok()?)?;
                    doc.import_obj(&format!("{counter}@{actor}")).ok()?
                }
                1 => return None,
                // On an item: its id must not change (something may refer to it).
                2 => {
                    if matches!(&op.key, Key::Map(k) if k.as_str() == "id") && known(&place.obj) {
                        return None;
                    }
                    place.obj
                }
                _ => {
                    let element = place.element?;
                    if place.in_id && known(&element) {
                        return None;
                    }
                    element
                }
            };
            let at = out.items[l].entry(element).or_insert(None);
            if at.is_none() {
                *at = place.index;
            }
        }
    }
    Some(out)
}

/// Where an operation's target object sits.
#[derive(Debug, Clone)]
struct Place {
    obj: ObjId,
    /// Steps up to the root: 1 for a top-level object, 2 for an item of a top-level list.
    depth: usize,
    /// The top-level key it is under.
    top: String,
    /// The item of a top-level list it is inside (depth 3 and more).
    element: Option<ObjId>,
    /// It is an item's `id` (as a text object).
    in_id: bool,
    /// The index in its top-level list of the item it is (depth 2) or is inside.
    index: Option<usize>,
}

impl Place {
    /// `None` if the target is unknown, or no longer visible (it or a parent removed).
    fn of(doc: &Automerge, target: &str) -> Option<Place> {
        let obj = doc.import_obj(target).ok()?;
        let chain: Vec<automerge::Parent> = doc.parents(&obj).ok()?.collect();
        if chain.iter().any(|p| !p.visible) {
            return None;
        }
        let top = match chain.last() {
            Some(p) if p.obj == ROOT => match &p.prop {
                Prop::Map(k) => k.clone(),
                Prop::Seq(_) => return None,
            },
            _ => return None,
        };
        let depth = chain.len();
        let index = match depth.checked_sub(2).map(|i| &chain[i].prop) {
            Some(Prop::Seq(i)) => Some(*i),
            _ => None,
        };
        Some(Place {
            index,
            element: depth.checked_sub(3).map(|i| chain[i].obj.clone()),
            in_id: depth == 3 && chain[0].prop == Prop::Map("id".into()),
            obj,
            depth,
            top,
        })
    }
}

/// Where an item is now in `list`; `None` if it is not a visible item of that list.
fn position(doc: &Automerge, obj: &ObjId, list: &ObjId) -> Option<usize> {
    let parent = doc.parents(obj).ok()?.next()?;
    match (&parent.prop, parent.visible, parent.obj == *list) {
        (Prop::Seq(i), true, true) => Some(*i),
        _ => None,
    }
}

/// A problem of the small document with the path of the whole one; `None` for a problem of an
/// item only read because something refers to it.
fn place_back(mut p: Problem, spec: &Spec, places: &[Vec<Option<usize>>]) -> Option<Problem> {
    for (l, list) in spec.lists.iter().enumerate() {
        let Some(rest) = p.path.strip_prefix(list.key) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('[') else {
            if rest.is_empty() || rest.starts_with('.') {
                return Some(p);
            }
            continue;
        };
        let (n, tail) = rest.split_once(']')?;
        let real = (*places[l].get(n.parse::<usize>().ok()?)?)?;
        p.path = format!("{}[{real}]{tail}", list.key);
        return Some(p);
    }
    Some(p)
}

#[cfg(test)]
mod tests;
