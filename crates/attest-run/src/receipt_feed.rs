//! [`ReceiptFeed`]: the receipt written while the run goes. A receipt lists every input
//! file of the run (a large workspace has hundreds of thousands); written only once the
//! last step finished, it would add its whole rendering, write and sync to every run's
//! end. Fed step by step instead, on a thread of its own, most of it is rendered, written
//! and on its way to the disk while later steps still run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use attest_pipeline::Pipeline;
use attest_receipt::{ReceiptWriteError, ReceiptWriter, StepRecord};

use crate::mailbox::Mailbox;
use crate::run_receipt::step_record;
use crate::{Reporter, RunEvent, RunSummary, StepReport};

/// A receipt being written, and whether writing it failed.
pub type PendingReceipt = Result<ReceiptWriter, ReceiptWriteError>;

/// A [`Reporter`] that hands each finished step to the receipt's writer as soon as every
/// step before it in the receipt's order is in too, and passes every event on to `inner`.
/// The receipt lists steps in their start order ([`attest_pipeline::Graph::start_order`]):
/// the order in which cache hits finish, so that the writer keeps up with the run
/// (in declaration order, one short step declared early and started late by the
/// scheduler would hold back the whole receipt until the end of the run).
/// The writer works on a thread of its own: the thread that reports steps also hands the
/// workers their next steps.
pub struct ReceiptFeed<'a> {
    inner: &'a dyn Reporter,
    pipeline: &'a Pipeline,
    root: &'a Path,
    /// Each selected step's place in the receipt and its pipeline index, by name.
    places: HashMap<&'a str, (usize, usize)>,
    order: Mutex<InOrder>,
    writer: JoinHandle<(PendingReceipt, Vec<StepRecord>)>,
}

/// Input files handed to the writer at once: waking its thread per step would cost more
/// than the step's part of the receipt.
const BATCH_FILES: usize = 256;

/// Step records put back in the receipt's order, handed over in batches.
struct InOrder {
    /// Records by place: those that finished before a step ahead of them wait here.
    waiting: Vec<Option<StepRecord>>,
    /// The first place not yet in a batch.
    next: usize,
    /// The next batch, and the input files its steps list.
    batch: Vec<StepRecord>,
    batch_files: usize,
    to_writer: Arc<Mailbox<Vec<StepRecord>>>,
}

impl Drop for InOrder {
    /// No more batches: the writer's thread ends once it has written those sent.
    fn drop(&mut self) {
        self.to_writer.close();
    }
}

impl InOrder {
    /// Moves every record from the next place on that has finished into the batch, and
    /// sends the batch once it is large enough.
    fn take_ready(&mut self) {
        while let Some(record) = self.waiting.get_mut(self.next).and_then(Option::take) {
            self.batch_files += record.inputs.len();
            self.batch.push(record);
            self.next += 1;
        }
        if self.batch_files >= BATCH_FILES {
            self.send_batch();
        }
    }

    fn send_batch(&mut self) {
        if !self.batch.is_empty() {
            self.to_writer.send(std::mem::take(&mut self.batch));
            self.batch_files = 0;
        }
    }
}

/// The writer's thread: adds each step as it comes, then writes the step list.
fn write_steps(mut writer: PendingReceipt, batches: &Mailbox<Vec<StepRecord>>) -> (PendingReceipt, Vec<StepRecord>) {
    let mut steps = Vec::new();
    for record in std::iter::from_fn(|| batches.recv()).flatten() {
        if let Ok(receipt) = &mut writer
            && let Err(err) = receipt.add_step(&record)
        {
            writer = Err(err);
        }
        steps.push(record);
    }
    if let Ok(receipt) = &mut writer
        && let Err(err) = receipt.end_steps()
    {
        writer = Err(err);
    }
    (writer, steps)
}

impl<'a> ReceiptFeed<'a> {
    /// Feeds `writer` the steps `selected` (pipeline indices) of `pipeline`, run in the
    /// workspace at `root`, in their start order.
    pub fn new(
        inner: &'a dyn Reporter,
        pipeline: &'a Pipeline,
        root: &'a Path,
        selected: &[usize],
        writer: PendingReceipt,
    ) -> Self {
        let order = pipeline.graph().start_order(selected);
        let places =
            order.iter().enumerate().map(|(place, &i)| (pipeline.steps[i].name.as_str(), (place, i))).collect();
        let to_writer = Arc::new(Mailbox::new());
        let batches = Arc::clone(&to_writer);
        let writer = std::thread::Builder::new()
            .name("receipt".to_owned())
            .spawn(move || write_steps(writer, &batches))
            .expect("the receipt's writer thread starts");
        let waiting = std::iter::repeat_with(|| None).take(selected.len()).collect();
        let order = InOrder { waiting, next: 0, batch: Vec::new(), batch_files: 0, to_writer };
        Self { inner, pipeline, root, places, order: Mutex::new(order), writer }
    }

    fn add(&self, report: &StepReport) {
        let Some(&(place, index)) = self.places.get(report.step.as_str()) else { return };
        let record = step_record(self.pipeline, self.root, index, report);
        let mut order = self.order.lock().expect("receipt feed lock is never poisoned");
        order.waiting[place] = Some(record);
        order.take_ready();
    }

    /// Hands over the last steps, from `summary` for any whose end was not reported (a
    /// run stopped by an error has no receipt, so this only guards the order; were one
    /// missing from the summary too, [`ReceiptWriter::finish`] would refuse the receipt).
    /// The writer then writes the step list on its thread: [`FedReceipt::wait`] for it.
    pub fn finish(self, summary: &RunSummary) -> FedReceipt {
        let mut order = self.order.into_inner().expect("receipt feed lock is never poisoned");
        for report in &summary.steps {
            if let Some(&(place, index)) = self.places.get(report.step.as_str())
                && order.next <= place
                && order.waiting[place].is_none()
            {
                order.waiting[place] = Some(step_record(self.pipeline, self.root, index, report));
            }
        }
        order.take_ready();
        order.send_batch();
        drop(order);
        FedReceipt { writer: self.writer }
    }
}

/// A receipt whose steps are all handed over, its step list being written.
pub struct FedReceipt {
    writer: JoinHandle<(PendingReceipt, Vec<StepRecord>)>,
}

impl FedReceipt {
    /// The writer, with every step and the step list written, and the steps' records
    /// in the receipt's order.
    pub fn wait(self) -> (PendingReceipt, Vec<StepRecord>) {
        self.writer.join().expect("the receipt's writer thread does not panic")
    }
}

impl Reporter for ReceiptFeed<'_> {
    fn report(&self, event: RunEvent<'_>) {
        if let RunEvent::StepFinished(report) = &event {
            self.add(report);
        }
        self.inner.report(event);
    }
}
