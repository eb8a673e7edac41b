//! The scenario's faults, run at their times: each event acts at once and schedules its own
//! end (a restart, a SIGCONT, the database back, the next flap). Steps run side by side, so
//! a slow one (a restart waits for the node's ready line) does not hold back the next. A
//! random target is drawn when its event fires, among the nodes running then, with the
//! scenario's seed.

use std::time::Duration;

use super::World;
use super::activity::{Wallets, double_spend};
use super::nodes::NodeState;
use super::scenario::{Action, Target};

/// One thing to do at a time.
#[derive(Clone, Debug)]
enum Step {
    Act(Action),
    Restart(usize),
    Resume(usize),
    DatabaseBack(usize),
    /// Flip the flapping link: cut it, or restore it.
    Flap {
        groups: [Vec<usize>; 2],
        cut: bool,
        period_s: f64,
        until_s: f64,
    },
}

/// Runs the timeline to its last step.
pub async fn run(world: &World, wallets: &tokio::sync::Mutex<Wallets>) {
    use futures::StreamExt;
    let mut queue: Vec<(f64, Step)> = world
        .scenario
        .events
        .iter()
        .map(|e| (e.at_s, Step::Act(e.action.clone())))
        .collect();
    let mut rng = fastrand::Rng::with_seed(world.scenario.seed ^ 0x6661_756c);
    let mut applying = futures::stream::FuturesUnordered::new();
    loop {
        // Earliest first; ties keep the file's order.
        let next = (0..queue.len()).min_by(|&a, &b| queue[a].0.total_cmp(&queue[b].0));
        let due = next.map(|i| world.observer.start() + Duration::from_secs_f64(queue[i].0));
        tokio::select! {
            Some(follow_ups) = applying.next() => queue.extend(follow_ups),
            () = tokio::time::sleep_until(due.unwrap_or_else(std::time::Instant::now).into()), if next.is_some() => {
                let (_, step) = queue.remove(next.expect("a step is due"));
                let seed = rng.u64(..);
                applying.push(apply(world, wallets, step, seed));
            }
            else => break,
        }
    }
}

async fn apply(
    world: &World,
    wallets: &tokio::sync::Mutex<Wallets>,
    step: Step,
    seed: u64,
) -> Vec<(f64, Step)> {
    match step {
        Step::Act(action) => act(world, wallets, action, &mut fastrand::Rng::with_seed(seed)).await,
        Step::Restart(i) => {
            let restarted = world.nodes[i].lock().await.restart().await;
            world.set_state(i, NodeState::Running);
            world.observer.note(match restarted {
                Ok(()) => format!("node {i} restarted"),
                Err(e) => format!("node {i} did not restart: {e}"),
            });
            Vec::new()
        }
        Step::Resume(i) => {
            world.nodes[i].lock().await.resume();
            world.set_state(i, NodeState::Running);
            world.observer.note(format!("node {i} resumed (SIGCONT)"));
            Vec::new()
        }
        Step::DatabaseBack(i) => {
            if let Some(pg) = &world.nodes[i].lock().await.pg {
                tokio::task::block_in_place(|| pg.resume());
            }
            world.set_database_down(i, false);
            world.observer.note(format!("node {i}'s database is back"));
            Vec::new()
        }
        Step::Flap {
            groups,
            cut,
            period_s,
            until_s,
        } => flap(world, groups, cut, period_s, until_s),
    }
}

/// Cuts (or restores) the flapping link, and schedules its next flip until `until_s`.
fn flap(
    world: &World,
    groups: [Vec<usize>; 2],
    cut: bool,
    period_s: f64,
    until_s: f64,
) -> Vec<(f64, Step)> {
    let now = world.observer.now();
    let ending = now + period_s >= until_s;
    let cut = cut && !ending;
    world.with_lab(|lab| {
        if cut {
            lab.cut(&groups[0], &groups[1]);
        } else {
            lab.restore(&groups[0], &groups[1]);
        }
    });
    world.set_flapping(!ending);
    if ending {
        world.observer.note("the flapping link is up for good");
        return Vec::new();
    }
    let next = Step::Flap {
        groups,
        cut: !cut,
        period_s,
        until_s,
    };
    vec![(now + period_s, next)]
}

async fn act(
    world: &World,
    wallets: &tokio::sync::Mutex<Wallets>,
    action: Action,
    rng: &mut fastrand::Rng,
) -> Vec<(f64, Step)> {
    let now = world.observer.now();
    world.observer.note(action.to_string());
    match action {
        Action::Partition { groups, one_way } => {
            partition(world, wallets, &groups, one_way).await;
            Vec::new()
        }
        Action::Heal => {
            world.with_lab(super::netns::Lab::heal);
            world.set_partitioned(false);
            world.observer.with(|o| o.convergence.push((now, None)));
            Vec::new()
        }
        Action::Flap {
            groups,
            period_s,
            until_s,
        } => {
            vec![(
                now,
                Step::Flap {
                    groups,
                    cut: true,
                    period_s,
                    until_s,
                },
            )]
        }
        Action::Kill {
            node,
            restart_after_s,
        } => match pick(world, node, rng) {
            Some(i) => {
                world.set_state(i, NodeState::Down);
                world.nodes[i].lock().await.kill().await;
                world.observer.note(format!("node {i} killed (SIGKILL)"));
                vec![(now + restart_after_s, Step::Restart(i))]
            }
            None => Vec::new(),
        },
        Action::Pause { node, for_s } => match pick(world, node, rng) {
            Some(i) => {
                world.set_state(i, NodeState::Paused);
                world.nodes[i].lock().await.pause();
                world.observer.note(format!("node {i} paused (SIGSTOP)"));
                vec![(now + for_s, Step::Resume(i))]
            }
            None => Vec::new(),
        },
        Action::DbOutage { node, for_s } => {
            if let Some(pg) = &world.nodes[node].lock().await.pg {
                tokio::task::block_in_place(|| pg.stop_immediately());
            }
            world.set_database_down(node, true);
            vec![(now + for_s, Step::DatabaseBack(node))]
        }
    }
}

/// Cuts the first group from each other one (or only its sending side), and pays one coin
/// on each side of the cut when the scenario has payments.
async fn partition(
    world: &World,
    wallets: &tokio::sync::Mutex<Wallets>,
    groups: &[Vec<usize>],
    one_way: bool,
) {
    world.with_lab(|lab| {
        for other in &groups[1..] {
            if one_way {
                lab.cut_one_way(&groups[0], other);
            } else {
                lab.cut(&groups[0], other);
            }
        }
    });
    world.set_partitioned(true);
    if world.scenario.load.is_empty() {
        return;
    }
    let pick = |g: &Vec<usize>| g.iter().copied().find(|&i| world.is_running(i));
    if let (Some(a), Some(b)) = (pick(&groups[0]), pick(&groups[1])) {
        let made = double_spend(world, wallets, a, b).await;
        world.observer.note(if made {
            format!("one coin paid on node {a} and again on node {b}")
        } else {
            "no coin for the double spend".to_owned()
        });
    }
}

/// The node an event acts on: its own, or a random running one.
fn pick(world: &World, target: Target, rng: &mut fastrand::Rng) -> Option<usize> {
    match target {
        Target::Node(i) => world.is_running(i).then_some(i),
        Target::Random => {
            let running = world.running();
            (!running.is_empty()).then(|| running[rng.usize(..running.len())])
        }
    }
}
