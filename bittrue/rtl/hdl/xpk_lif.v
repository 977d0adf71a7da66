// XPK-1 LIF neurons (spec 5.1), LANES in parallel, membranes held outside (a membrane memory):
//     v' = sat_WIDTH(v - (v >>> LEAK_SHIFT) + y);  spike = v' >= theta;
//     on a spike v' <= 0 (RESET_SOFT = 0, hard) or sat_WIDTH(v' - theta) (RESET_SOFT = 1).
// Timing: `in_valid` registers the update of v_in/y_in; v_out, spikes and out_valid follow one clock later.
`timescale 1ns/1ps
module xpk_lif #(
    parameter integer LANES = 64,
    parameter integer WIDTH = 16,          // lif.width (membrane, input and threshold)
    parameter integer LEAK_SHIFT = 1,      // lif.leak_shift
    parameter integer RESET_SOFT = 0       // lif.reset: 0 hard, 1 soft
) (
    input  wire                     clk,
    input  wire                     in_valid,
    input  wire [WIDTH-1:0]         theta,     // signed threshold code of this population
    input  wire [LANES*WIDTH-1:0]   v_in,      // signed membrane codes before the step
    input  wire [LANES*WIDTH-1:0]   y_in,      // signed input codes
    output reg                      out_valid,
    output reg  [LANES*WIDTH-1:0]   v_out,     // membrane codes after update and reset
    output reg  [LANES-1:0]         spikes
);
    localparam integer XW = WIDTH + 2;
    localparam signed [XW-1:0] HI = (1 <<< (WIDTH - 1)) - 1;
    localparam signed [XW-1:0] LO = -(1 <<< (WIDTH - 1));
    reg signed [XW-1:0] v, y, th, vs, dif;
    reg fire;
    reg [LANES*WIDTH-1:0] v_next;
    reg [LANES-1:0] s_next;
    integer n;
    always @(posedge clk) begin
        out_valid <= in_valid;
        if (in_valid) begin
            th = $signed(theta);
            for (n = 0; n < LANES; n = n + 1) begin
                v = $signed(v_in[n*WIDTH +: WIDTH]);
                y = $signed(y_in[n*WIDTH +: WIDTH]);
                vs = v - (v >>> LEAK_SHIFT) + y;
                vs = (vs > HI) ? HI : (vs < LO) ? LO : vs;
                fire = vs >= th;
                dif = vs - th;
                dif = (dif > HI) ? HI : (dif < LO) ? LO : dif;
                s_next[n] = fire;
                v_next[n*WIDTH +: WIDTH] = fire ? (RESET_SOFT ? dif[WIDTH-1:0] : {WIDTH{1'b0}}) : vs[WIDTH-1:0];
            end
            v_out <= v_next;
            spikes <= s_next;
        end
    end
endmodule
