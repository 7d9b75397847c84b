import test from 'ava';
import { LevelController, MAX_LEVEL, MIN_LEVEL, START_LEVEL } from '../../../src/migrate/adapt.js';

/** A simulated migration: the encoder makes `produce(level)` bytes per second, the link takes `link`. */
function simulate(link: number, produce: (level: number) => number, seconds: number): { levels: number[]; c: LevelController } {
  const c = new LevelController();
  let backlog = 0;
  const levels: number[] = [];
  const dt = 0.25;
  for (let t = 0; t < seconds; t += dt) {
    backlog += produce(c.level) * dt;
    const sent = Math.min(backlog, link * dt);
    backlog -= sent;
    levels.push(c.tick(backlog, sent, dt, false));
  }
  return { levels, c };
}

// Bytes per second out of the encoder at a level: higher levels are slower and smaller.
const produce = (level: number) => 40e6 / (1 + (level - 1) * 0.6);

test('a slow link (10 Mbps): the level climbs until the encoder no longer outruns it', (t) => {
  const { levels } = simulate(1.25e6, produce, 60);
  t.true(levels[0] > START_LEVEL);
  // Far behind, it climbs fast: the top efforts within 2 s (8 ticks), while frames are still coded.
  t.true(Math.max(...levels.slice(0, 8)) >= 15, `levels ${levels.join(',')}`);
  t.true(levels.at(-1)! >= 15);
});

test('a fast link (1 Gbps): the level falls to the cheapest', (t) => {
  const { levels } = simulate(125e6, produce, 10);
  t.is(levels.at(-1), MIN_LEVEL);
});

test('a link matching a middle level: it settles around that level instead of running away', (t) => {
  // produce(level) = 12.5e6 at level ≈ 4.7: the controller must hover there, not sit at an end.
  const { levels } = simulate(12.5e6, produce, 60);
  const tail = levels.slice(-80);
  t.true(Math.min(...tail) >= 2 && Math.max(...tail) <= 9, `tail ${tail.join(',')}`);
});

test('no measurement yet, or the encoder done: the level holds', (t) => {
  const c = new LevelController();
  t.is(c.tick(50e6, 0, 0.25, false), START_LEVEL); // backlog but nothing sent yet (link opening)
  t.is(c.tick(0, 0, 0.25, false), START_LEVEL);
  t.is(c.tick(50e6, 1e6, 0.25, true), START_LEVEL);
  // Once the rate is known, a big backlog raises it one step per tick, bounded.
  for (let i = 0; i < 40; i++) c.tick(50e6, 1e6, 0.25, false);
  t.is(c.level, MAX_LEVEL);
});
