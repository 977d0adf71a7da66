// XPK-1 input encoder (spec 5.3): a ROWS x COLS comparator array fed by an LFSR bank under one of the
// three sharing modes (spec 2.4); comparator (r, c) fires when draw < p (spec 1.4).  Register of
// comparator (r, c): r*COLS + c (SHARING 0), r (1) or 0 (2).
//
// Timing: `start` (one clock) begins a draw; the bank then shifts for STEPS clocks and `done` is high
// for one clock after the last shift.  `draw` and `spikes` are combinational from the register states
// and `prob_code`, valid from `done` until the next `start`.  One draw = STEPS + 1 clocks from `start`.
`timescale 1ns/1ps
module xpk_encoder #(
    parameter integer WIDTH = 16,
    parameter [63:0]  TAP_MASK = 64'hB400,
    parameter integer K = 8,               // draw and feature width (encoder.bits)
    parameter integer STEPS = 8,           // clocks per draw (resolved lfsr.steps_per_draw)
    parameter integer SHARING = 0,         // 0 comparator, 1 row, 2 array
    parameter integer ROWS = 16,           // patches
    parameter integer COLS = 4             // features per patch
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire                     load,    // load every register from `seeds`
    input  wire [NREG*WIDTH-1:0]    seeds,   // register g at bits [g*WIDTH +: WIDTH]
    input  wire                     start,
    input  wire [ROWS*COLS*K-1:0]   prob_code, // comparator (r, c) at bits [(r*COLS+c)*K +: K]
    output wire                     done,
    output reg  [ROWS*COLS*K-1:0]   draw,
    output reg  [ROWS*COLS-1:0]     spikes
);
    localparam integer NREG = (SHARING == 0) ? ROWS * COLS : (SHARING == 1) ? ROWS : 1;
    wire en;
    wire [NREG*K-1:0] rd;
    xpk_draw_ctl #(.STEPS(STEPS)) ctl (.clk(clk), .rst(rst), .start(start), .en(en), .done(done));
    xpk_lfsr_bank #(.NREG(NREG), .WIDTH(WIDTH), .TAP_MASK(TAP_MASK), .K(K)) bank (
        .clk(clk), .load(load), .seeds(seeds), .en(en), .draws(rd));
    integer r, c, ri;
    always @* begin
        for (r = 0; r < ROWS; r = r + 1)
            for (c = 0; c < COLS; c = c + 1) begin
                ri = (SHARING == 0) ? r * COLS + c : (SHARING == 1) ? r : 0;
                draw[(r*COLS+c)*K +: K] = rd[ri*K +: K];
                spikes[r*COLS+c] = rd[ri*K +: K] < prob_code[(r*COLS+c)*K +: K];
            end
    end
endmodule
